"""BSPump's coroutine sources: ``TriggerSource`` with ``async def cycle`` and ``Source`` with
``async def main``, both calling ``await self.process(event)``.

Rules:
1. They are asyncio coroutines, as every BSPump source is (they may use aiohttp): they run on
   the asyncio executor. On another executor the application refuses to start, naming them
   (``asyncio_only``); called on another event loop anyway, they raise ``RuntimeError``.
2. ``await self.process(event)`` first waits until the pipeline is ready (BSPump's
   ``await self.Pipeline.ready()``), then sends the event on.
3. A ``Source`` runs ``main`` in the background from the start of the run until the run stops
   (then it is cancelled, as BSPump cancels it); when ``main`` returns, the source is exhausted.
   Its events are queued (at most ``queue_max_size``) and taken by the pipeline in order; a full
   queue makes ``process`` wait. They have no positions to acknowledge.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar

import anyio
import sniffio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

import pumpcore
from pumpcore import ConfigRule, Context, Received
from pumpcore.config import at_least
from pumpcore.lowlevel import AsyncSource

from ._adapt import BSPumpComponent
from ._pipeline import Pipeline

# How long ``read`` waits for the first queued event before answering "nothing yet".
_READ_WAIT = 0.05

AsyncMethod = Callable[..., Coroutine[Any, Any, Any]]


def _on_asyncio(owner: str, method: AsyncMethod) -> AsyncMethod:
    """Wrap a source's coroutine method so that another event loop fails clearly (rule 1)."""

    @functools.wraps(method)
    async def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        library = sniffio.current_async_library()
        if library != "asyncio":
            raise RuntimeError(
                f"{owner} {self.Id!r}: `{method.__name__}` is an asyncio coroutine, as BSPump's "
                f"are; run it on the asyncio executor (this run is on {library})"
            )
        return await method(self, *args, **kwargs)

    return checked


def _require_coroutine(cls: type, name: str) -> None:
    """A subclass defining ``name`` must make it an ``async def``; wrap it for rule 1."""
    method = cls.__dict__.get(name)
    if method is None:
        return
    if not inspect.iscoroutinefunction(method):
        raise TypeError(
            f"{cls.__name__}.{name} must be an `async def`, as in BSPump; for a blocking "
            f"{name}, subclass pumpcore.TriggerSource instead (it runs in a worker thread)"
        )
    setattr(cls, name, _on_asyncio(cls.__name__, method))


async def _ready(component: pumpcore.Source) -> pumpcore.Pipeline:
    pipeline = component.Pipeline
    if pipeline is None:
        raise RuntimeError(f"source {component.Id!r} is not part of a pipeline")
    if isinstance(pipeline, Pipeline):
        await pipeline.ready()
    return pipeline


class TriggerSource(BSPumpComponent, pumpcore.TriggerSource):
    """BSPump's ``TriggerSource``: override ``async def cycle(self)``; in it,
    ``await self.process(event)``. Add triggers with ``.on(trigger)``."""

    ConfigAllowUnknown: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _require_coroutine(cls, "cycle")

    async def process(self, event: Any, context: Context | None = None) -> None:  # type: ignore[override]
        """Wait until the pipeline is ready, then send ``event`` through it (rule 2)."""
        await _ready(self)
        pumpcore.TriggerSource.process(self, event, context)


class Source(BSPumpComponent, AsyncSource):
    """BSPump's ``Source``: override ``async def main(self)``; loop in it, calling
    ``await self.Pipeline.ready()`` and ``await self.process(event)`` (rule 3).

    Config:
        queue_max_size: how many events ``process`` may queue for the pipeline before it waits.
    """

    ConfigAllowUnknown: ClassVar[bool] = True
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"queue_max_size": 1000}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"queue_max_size": at_least(1)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._send: MemoryObjectSendStream[Received] | None = None
        self._recv: MemoryObjectReceiveStream[Received] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _require_coroutine(cls, "main")

    async def main(self) -> None:
        """Produce events with ``await self.process(event)``. Subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__}.main() is not implemented")

    async def process(self, event: Any, context: Context | None = None) -> None:  # type: ignore[override]
        """Wait until the pipeline is ready and there is room, then queue ``event``."""
        await _ready(self)
        if self._send is None:
            raise RuntimeError(f"{type(self).__name__} {self.Id!r}: process() before the run")
        await self._send.send(Received(event, context=context))

    async def open(self) -> None:
        """Create the queue ``main`` fills."""
        self._send, self._recv = anyio.create_memory_object_stream[Received](
            int(self.Config["queue_max_size"])
        )

    async def serve(self) -> None:
        """Run ``main``; once it returns, the source is exhausted (rule 3)."""
        await self.main()
        if self._send is not None:
            await self._send.aclose()

    async def read(self, max_items: int) -> Sequence[Received] | None:
        """What ``main`` queued: waits a moment for the first, then takes what is there."""
        recv = self._recv
        if recv is None:
            return []
        items: list[Received] = []
        try:
            with anyio.move_on_after(_READ_WAIT):
                items.append(await recv.receive())
            while len(items) < max_items:
                items.append(recv.receive_nowait())
        except anyio.WouldBlock:
            pass
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return items or None
        return items

    async def aclose(self) -> None:
        """Drop the queue (what it still holds was never taken by the pipeline)."""
        for stream in (self._send, self._recv):
            if stream is not None:
                await stream.aclose()
        self._send = self._recv = None


def asyncio_only(pipelines: Sequence[pumpcore.Pipeline]) -> list[str]:
    """``PipelineID.SourceID`` of every source that needs the asyncio executor (rule 1)."""
    found = []
    for pipeline in pipelines:
        for source in pipeline.iter_sources():
            if isinstance(source, TriggerSource | Source):
                found.append(f"{pipeline.Id}.{source.Id}")
    return found
