"""Index names with date patterns: ``logs-%Y.%m.%d`` from the event's time or now (UTC)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any


def _epoch(field: str, value: Any) -> float:
    """Seconds since the epoch from a number (seconds), an ISO 8601 string or a datetime."""
    if isinstance(value, bool):
        raise ValueError(f"index time: field {field!r} holds a bool, not a time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp()
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed.timestamp() if parsed.tzinfo else parsed.replace(tzinfo=UTC).timestamp()
    raise ValueError(f"index time: field {field!r} holds {type(value).__name__}, not a time")


def index_namer(pattern: str, time_field: str) -> Callable[[Any], str]:
    """The function giving an event's index: ``pattern`` as is when it has no ``%``, else
    formatted (``time.strftime``, UTC) with the event's ``time_field`` or, when that is ``""``,
    the current time. Names are cached per second.

    Raises (from the returned function):
        ValueError: the event has no ``time_field`` or it is not a time.

    Example:
        >>> index_namer("logs-%Y.%m.%d", "ts")({"ts": 86400 * 365})
        'logs-1971.01.01'
    """
    if "%" not in pattern:
        return lambda event: pattern
    cache: dict[int, str] = {}

    def name_at(seconds: float) -> str:
        second = int(seconds // 1)
        name = cache.get(second)
        if name is None:
            if len(cache) > 1024:
                cache.clear()
            name = cache[second] = time.strftime(pattern, time.gmtime(second))
        return name

    if not time_field:
        return lambda event: name_at(time.time())

    def from_event(event: Any) -> str:
        if not isinstance(event, Mapping) or time_field not in event:
            raise ValueError(f"index time: the event has no {time_field!r} field")
        return name_at(_epoch(time_field, event[time_field]))

    return from_event
