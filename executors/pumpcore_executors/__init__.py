"""Executors that drive pumpcore pipelines: sync, threads, asyncio and trio."""

from ._clock import SystemClock as SystemClock
from ._report import RunReport as RunReport
from ._run import EXECUTORS as EXECUTORS
from ._run import ExecutorName as ExecutorName
from ._run import run as run

__all__ = (
    "EXECUTORS",
    "ExecutorName",
    "RunReport",
    "SystemClock",
    "run",
)
