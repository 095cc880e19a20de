"""One test body across every executor: the ``executor`` fixture (as anyio's ``anyio_backend``)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pumpcore_executors import ExecutorName

from pumpcore.testing import conformance


@pytest.fixture(params=conformance.executor_params())
def executor(request: pytest.FixtureRequest) -> ExecutorName:
    """The name of an executor: sync, threads, asyncio, trio."""
    return cast(ExecutorName, request.param)


@pytest.fixture(params=[p for p in conformance.executor_params() if p.id in ("asyncio", "trio")])
def async_backend(request: pytest.FixtureRequest) -> str:
    """The name of an async library the async executor runs on: asyncio, trio."""
    name: str = request.param
    return name


def executors(*names: str) -> list[Any]:
    """``pytest.param``s for some executors, marked (and skipped when absent) like the fixture's."""
    return [p for p in conformance.executor_params() if p.id in names]


# A blocking call on an event loop's thread longer than this fails an async test.
BLOCKING_THRESHOLD = 0.5


def run_kwargs(executor: str) -> dict[str, Any]:
    """Keyword arguments for ``pumpcore_executors.run``: the loop watchdog on async executors."""
    if executor in ("asyncio", "trio"):
        return {"blocking_threshold": BLOCKING_THRESHOLD, "handle_signals": False}
    return {"handle_signals": False}
