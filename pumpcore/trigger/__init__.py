"""Triggers: pure schedules that tell an executor when a TriggerSource's ``cycle`` runs."""

from ._base import Trigger as Trigger
from ._cron import CronTrigger as CronTrigger
from ._opportunistic import OpportunisticTrigger as OpportunisticTrigger
from ._periodic import PeriodicTrigger as PeriodicTrigger
from ._pubsub import PubSub as PubSub
from ._pubsub import PubSubTrigger as PubSubTrigger
from ._run_once import RunOnceTrigger as RunOnceTrigger

__all__ = (
    "CronTrigger",
    "OpportunisticTrigger",
    "PeriodicTrigger",
    "PubSub",
    "PubSubTrigger",
    "RunOnceTrigger",
    "Trigger",
)
