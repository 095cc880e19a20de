"""The I/O steps of the blocking executors (sync and threads): open, commit, shut down.

Both call adapters' blocking methods through ``call(fn, *args)``: the sync executor calls them
inline, the threads executor in its pool with the time left before ``stop_timeout``. An adapter
written on anyio (``AsyncSource``, ``AsyncSink``) is called through an ``AsyncBridge``: its
coroutines run on a private event loop thread while ``call``'s thread waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pumpcore import PipelineStoppedError, Sink, TriggerSource
from pumpcore.lowlevel import (
    AsyncSink,
    AsyncSource,
    BlockingSink,
    Commit,
    Driver,
    IOSource,
    Offload,
    flush_is_noop,
    has_serve,
    is_async_cycle,
)

from ._bridge import AsyncBridge
from ._report import RunReport, report_of

log = logging.getLogger("pumpcore.executors")
T = TypeVar("T")
Call = Callable[..., Any]


def check_blocking(driver: Driver, executor: str) -> None:
    """Raise TypeError naming the first component that needs an async executor."""
    hint = "use executor='asyncio' or 'trio' (or pumpcore_executors.serving)"
    for trigger in driver.triggers:
        for source in driver.sources_of(trigger):
            if is_async_cycle(source):
                raise TypeError(
                    f"{source.locate_address()}: cycle() is async; the {executor} executor "
                    f"cannot run it; {hint}"
                )


def abandoned(call: Offload) -> PipelineStoppedError:
    """The failure of an offloaded call the executor will not run (or no longer waits for)."""
    return PipelineStoppedError(
        f"{call.pipeline.Id}.{call.component_id}: abandoned, the pump stopped before this step "
        "finished (stop_timeout passed, or the run was cancelled)"
    )


def abandon_in_flight(driver: Driver) -> None:
    """Fail what is still in flight at async or blocking steps, through the error policy; their
    positions are never acknowledged (``Driver.abandon``). The stop sequence's last resort."""
    count = driver.abandon(
        PipelineStoppedError("abandoned: the step did not finish before the pump stopped")
    )
    if count:
        log.warning("stop: %d events in flight at async or blocking steps abandoned", count)


def report_cycle_failure(source: TriggerSource, exc: Exception) -> None:
    """A ``cycle`` raised: the pipeline's error policy decides, the log tells."""
    assert source.Pipeline is not None
    soft = source.Pipeline.report_source_failure(source.Id, exc)
    log.warning(
        "cycle of %s failed (%s): %r", source.locate_address(), "soft" if soft else "hard", exc
    )


class BlockingIO:
    """Opens, commits and closes the I/O parts of a run through ``call``."""

    def __init__(self, driver: Driver, call: Call) -> None:
        self.driver = driver
        self.call = call
        self.bridge = AsyncBridge()
        self._opened_sources: list[IOSource] = []
        self._opened_sinks: list[Sink] = []

    def method(self, part: IOSource | Sink, name: str) -> Call:
        """The blocking form of an adapter's ``open``/``read``/``acknowledge``/``flush``/``close``:
        the method itself for blocking adapters, a bridged call for anyio ones."""
        if isinstance(part, AsyncSource | AsyncSink):
            async_name = {"close": "aclose"}.get(name, name)
            if isinstance(part, AsyncSink):
                async_name = {"open": "aopen", "flush": "aflush", "close": "aclose"}[name]
            coro_fn = getattr(part, async_name)
            return lambda *args: self.bridge.call(coro_fn, *args)
        fn: Call = getattr(part, name)
        return fn

    def open(self) -> None:
        """Open the sinks, then the sources (nothing is read before every sink can write);
        start the background work of anyio sources that serve (servers)."""
        for _, sink in self.driver.sinks():
            if isinstance(sink, BlockingSink | AsyncSink):
                self.call(self.method(sink, "open"))
                self._opened_sinks.append(sink)
        for source in self.driver.io_sources:
            self.call(self.method(source, "open"))
            self._opened_sources.append(source)
            if isinstance(source, AsyncSource) and has_serve(source):
                self.bridge.start(source.serve, f"serve of {source.locate_address()}")

    def read(self, source: IOSource, now: Callable[[], float]) -> None:
        """One read, fed back into the source (call it where blocking is allowed)."""
        size = source.read_size
        try:
            items = self.call(self.method(source, "read"), size)
        except Exception as exc:
            report_read_failure(source, exc)
            source.read_failed(now())
        else:
            source.feed(items, now())

    def flush(self) -> bool:
        """Flush every sink; False (the failure reported, its feeders poisoned) if one raised."""
        ok = True
        for pipeline, sink in self.driver.sinks():
            if flush_is_noop(sink):
                continue
            try:
                self.call(self.method(sink, "flush"))
            except Exception as exc:
                ok = False
                pipeline.report_source_failure(sink.Id, exc)
                self.driver.flush_failed(pipeline)
                log.error("flush of %s.%s failed: %r", pipeline.Id, sink.Id, exc)
        return ok

    def acknowledge(self, commit: Commit) -> None:
        """Acknowledge the commit's positions, source by source."""
        for source, positions in commit.acks:
            try:
                self.call(self.method(source, "acknowledge"), positions)
            except Exception as exc:
                report_read_failure(source, exc)

    def commit(self) -> None:
        """Take a commit, flush, acknowledge when every flush succeeded."""
        commit = self.driver.take_commit()
        if self.flush():
            self.acknowledge(commit)

    def shutdown(self, now: float) -> RunReport:
        """Stop the pipelines (draining, flushing aggregates), flush and close sinks, commit,
        close sources; report."""
        driver = self.driver
        abandon_in_flight(driver)
        driver.stop(now)
        abandon_in_flight(driver)  # results held back by a pipeline that can no longer drain
        commit = driver.take_commit()
        try:
            if self.flush():
                self.acknowledge(commit)
        finally:
            self.bridge.cancel_background()
            for sink in self._opened_sinks:
                _quietly(self.call, self.method(sink, "close"), f"close of sink {sink.Id}")
            for source in self._opened_sources:
                what = f"close of {source.locate_address()}"
                _quietly(self.call, self.method(source, "close"), what)
            self.bridge.close()
        return report_of(driver)


def report_read_failure(source: IOSource, exc: Exception) -> None:
    """A read or an acknowledgement raised: the pipeline's error policy decides."""
    assert source.Pipeline is not None
    soft = source.Pipeline.report_source_failure(source.Id, exc)
    log.warning("%s failed (%s): %r", source.locate_address(), "soft" if soft else "hard", exc)


def _quietly(call: Call, fn: Callable[[], None], what: str) -> None:
    try:
        call(fn)
    except Exception as exc:
        log.error("%s failed: %r", what, exc)
