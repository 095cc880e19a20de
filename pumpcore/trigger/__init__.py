"""Triggers: pure schedules that tell an executor when a TriggerSource's ``cycle`` runs."""

from ._base import Trigger as Trigger

__all__ = ("Trigger",)
