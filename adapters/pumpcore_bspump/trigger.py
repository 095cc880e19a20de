"""BSPump's ``bspump.trigger``: pumpcore's triggers taking the application first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pumpcore import ConfigError, trigger
from pumpcore.trigger import PubSub, Trigger

__all__ = (
    "CronTrigger",
    "OpportunisticTrigger",
    "PeriodicTrigger",
    "PubSubTrigger",
    "RunOnceTrigger",
    "Trigger",
)


def _check_app(owner: str, app: object) -> None:
    """``PeriodicTrigger(5)`` ported from BSPump lost its ``app``: say so."""
    if isinstance(app, int | float | str) and not isinstance(app, bool):
        raise ConfigError(
            f"{owner}(app, ...): got {app!r} in place of the application; pass `app` first, "
            "as BSPump does"
        )


class PeriodicTrigger(trigger.PeriodicTrigger):
    """``PeriodicTrigger(app, interval, id=None)``: fires at start, then every ``interval`` s."""

    def __init__(self, app: object, interval: float, id: str | None = None) -> None:
        _check_app("PeriodicTrigger", app)
        super().__init__(interval, id=id)


class CronTrigger(trigger.CronTrigger):
    """``CronTrigger(app, expression, timezone="UTC", id=None)``."""

    def __init__(
        self, app: object, expression: str, timezone: str = "UTC", id: str | None = None
    ) -> None:
        _check_app("CronTrigger", app)
        super().__init__(expression, timezone, id=id)


class RunOnceTrigger(trigger.RunOnceTrigger):
    """``RunOnceTrigger(app, id=None)``: fires once, at start."""

    def __init__(self, app: object, id: str | None = None) -> None:
        _check_app("RunOnceTrigger", app)
        super().__init__(id=id)


class OpportunisticTrigger(trigger.OpportunisticTrigger):
    """``OpportunisticTrigger(app, id=None, run_immediately=True, chilldown_period=5)``."""

    def __init__(
        self,
        app: object,
        id: str | None = None,
        run_immediately: bool = True,
        chilldown_period: float = 5,
    ) -> None:
        _check_app("OpportunisticTrigger", app)
        super().__init__(chilldown_period, id, run_immediately=run_immediately)


class PubSubTrigger(trigger.PubSubTrigger):
    """``PubSubTrigger(app, message_types, pubsub=None, id=None)``: the application's PubSub
    unless another is given."""

    def __init__(
        self,
        app: Any,
        message_types: str | Iterable[str],
        pubsub: PubSub | None = None,
        id: str | None = None,
    ) -> None:
        _check_app("PubSubTrigger", app)
        if pubsub is None:
            pubsub = getattr(app, "PubSub", None)
        if not isinstance(pubsub, PubSub):
            raise ConfigError("PubSubTrigger: no `pubsub` given and the application has none")
        super().__init__(pubsub, message_types, id=id)
