"""BSPump's base classes users subclass: ``Processor``, ``Generator`` and ``Sink``, taking
``(app, pipeline, id=None, config=None)`` and accepting config keys they read from
``self.Config`` without declaring them, as BSPump does."""

from __future__ import annotations

from typing import ClassVar

import pumpcore

from ._adapt import BSPumpComponent


class Processor(BSPumpComponent, pumpcore.Processor):
    """BSPump's ``Processor``: override ``process(self, context, event)``."""

    ConfigAllowUnknown: ClassVar[bool] = True


class Generator(BSPumpComponent, pumpcore.Generator):
    """A generator with BSPump's constructor; override ``generate(self, context, event)`` and
    return (or yield) the events (BSPump's ``async generate(..., depth)`` with
    ``Pipeline.inject`` becomes this; see docs/migrating-from-bspump.md)."""

    ConfigAllowUnknown: ClassVar[bool] = True


class Sink(BSPumpComponent, pumpcore.Sink):
    """BSPump's ``Sink``: override ``process(self, context, event)``."""

    ConfigAllowUnknown: ClassVar[bool] = True
