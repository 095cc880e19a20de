"""BSPump's API on pumpcore: bring a BSPump pump over by changing its import line to
``import pumpcore_bspump as bspump``.

Components take BSPump's ``(app, pipeline, id=None, config=None)``; ``BSPumpApplication`` reads
``-c CONFIG`` and runs the pipelines registered in ``app.get_service("bspump.PumpService")`` on
a pumpcore executor (asyncio by default, as BSPump). Submodules (``bspump.common``,
``bspump.http``, ``bspump.kafka``…) load on first use, so ``bspump.kafka`` raises an
ImportError naming the extra to install only when a pump uses it and its client library is
missing. Differences and their one-line changes: ``docs/migrating-from-bspump.md``.

Install with ``pip install "pumpcore[bspump]"``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._app import BSPumpApplication as BSPumpApplication
from ._components import Generator as Generator
from ._components import Processor as Processor
from ._components import Sink as Sink
from ._later import ADAPTERS, LATER, missing
from ._pipeline import Pipeline as Pipeline
from ._service import PumpService as PumpService
from ._sources import Source as Source
from ._sources import TriggerSource as TriggerSource

_SUBMODULES = frozenset(
    {"analyzer", "asab", "common", "file", "http", "ipc", "socket", "trigger", "web"}
)


def __getattr__(name: str) -> ModuleType:
    """``bspump.common``, ``bspump.http``…: imported on first use (BSPump's ``import
    bspump.http`` becomes an attribute access once the import line reads ``import
    pumpcore_bspump as bspump``)."""
    if name in _SUBMODULES or name in ADAPTERS:
        return importlib.import_module(f"{__name__}.{name}")
    if name in LATER:
        raise missing(name)
    raise AttributeError(f"module 'bspump' (pumpcore_bspump) has no attribute {name!r}")


__all__ = (
    "BSPumpApplication",
    "Generator",
    "Pipeline",
    "Processor",
    "PumpService",
    "Sink",
    "Source",
    "TriggerSource",
)
