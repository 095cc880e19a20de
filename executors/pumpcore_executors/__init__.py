"""Executors that drive pumpcore pipelines: sync, threads, asyncio and trio.

``run(...)`` owns the process until the pipelines finish (or a ``RunHandle`` stops it from another
thread); ``serving(...)`` (asyncio or trio, needs anyio) runs them inside an application's own
event loop.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._clock import SystemClock as SystemClock
from ._handle import RunHandle as RunHandle
from ._report import RunReport as RunReport
from ._run import EXECUTORS as EXECUTORS
from ._run import ExecutorName as ExecutorName
from ._run import run as run

if _TYPE_CHECKING:
    from ._async import ServingPump as ServingPump
    from ._async import serving as serving
    from ._watchdog import LoopBlockedError as LoopBlockedError

__all__ = (
    "EXECUTORS",
    "ExecutorName",
    "LoopBlockedError",
    "RunHandle",
    "RunReport",
    "ServingPump",
    "SystemClock",
    "run",
    "serving",
)

_LAZY = {"serving": "_async", "ServingPump": "_async", "LoopBlockedError": "_watchdog"}


def __getattr__(name: str) -> _Any:
    # The async parts import anyio, an optional dependency: load them on first use only.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pumpcore_executors' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
