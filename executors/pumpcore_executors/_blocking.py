"""How the blocking executors (sync and threads) carry out the run machine's commands.

Both call adapters' blocking methods: the sync executor inline, the threads executor in its pool
(bounded by ``stop_timeout`` once stopping). An adapter written on anyio (``AsyncSource``,
``AsyncSink``) is called through an ``AsyncBridge``: its coroutines run on a private event loop
thread while the calling thread waits for them, and its ``serve`` runs there in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pumpcore import PipelineStoppedError, Sink
from pumpcore.lowlevel import (
    Acknowledge,
    AsyncSink,
    AsyncSource,
    Close,
    Command,
    Cycle,
    Flush,
    IOSource,
    Load,
    Offload,
    Open,
    Read,
    RunMachine,
    Serve,
    StopServing,
    is_async_cycle,
)

from ._bridge import AsyncBridge

log = logging.getLogger("pumpcore.executors")
Call = Callable[..., Any]


def check_blocking(machine: RunMachine, executor: str) -> None:
    """Raise TypeError naming the first component that needs an async executor."""
    hint = "use executor='asyncio' or 'trio' (or pumpcore_executors.serving)"
    driver = machine.driver
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


def log_failure(command: Command, exc: BaseException) -> None:
    """Tell a human about a command that failed (the machine counts it)."""
    log.warning("%s failed: %r", describe(command), exc)


def answer(machine: RunMachine, command: Command, now: Callable[[], float], perform: Call) -> None:
    """Carry out ``command`` with ``perform`` and give the machine its outcome (rule 2 of
    ``pumpcore/_machine.py``). What is not an ``Exception`` (KeyboardInterrupt, SystemExit) is
    answered as a failure too, then raised for the executor to stop the run with."""
    try:
        result = perform(command)
    except BaseException as exc:
        log_failure(command, exc)
        machine.failed(command, now(), exc)
        if not isinstance(exc, Exception):
            raise
    else:
        machine.done(command, now(), result)


def describe(command: Command) -> str:
    """A short name for a command, for logs."""
    if type(command) is Load:
        assert isinstance(command, Load)
        return f"load of lookup {command.lookup.Id!r}"
    part: Any = getattr(command, "part", None) or getattr(command, "source", None)
    part = part or getattr(command, "sink", None)
    where = part.locate_address() if part is not None else ""
    return f"{type(command).__name__.lower()} {where}".strip()


class BlockingParts:
    """Performs the machine's commands with blocking calls (``perform``)."""

    def __init__(self, on_serve_failure: Callable[[Serve, BaseException], None]) -> None:
        self.bridge = AsyncBridge()
        self._on_serve_failure = on_serve_failure

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

    def perform(self, command: Command) -> Any:
        """Carry out one command where blocking is allowed; return its result or raise."""
        kind = type(command)
        if kind is Read:
            assert isinstance(command, Read)
            return self.method(command.source, "read")(command.max_items)
        if kind is Cycle:
            assert isinstance(command, Cycle)
            failures = []
            for source in command.sources:
                try:
                    source.cycle()
                except Exception as exc:
                    failures.append((source, exc))
            return failures
        if kind is Load:
            assert isinstance(command, Load)
            if command.is_async:
                return self.bridge.call(command.function)
            return command.function()
        if kind is Flush:
            assert isinstance(command, Flush)
            return self.method(command.sink, "flush")()
        if kind is Acknowledge:
            assert isinstance(command, Acknowledge)
            return self.method(command.source, "acknowledge")(command.positions)
        if kind is Open or kind is Close:
            assert isinstance(command, Open | Close)
            return self.method(command.part, kind.__name__.lower())()
        if kind is Serve:
            assert isinstance(command, Serve)
            self.bridge.start(
                command.source.serve,
                f"serve of {command.source.locate_address()}",
                lambda exc: self._on_serve_failure(command, exc),
            )
            return None
        assert kind is StopServing
        self.bridge.cancel_background()
        return None

    def close(self) -> None:
        """Stop the bridge's loop thread, if one was started."""
        self.bridge.close()
