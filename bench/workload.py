"""The standard workload: parse JSON lines with orjson, enrich, filter, count in a sink.

Shared by every benchmark so that the plain loop and the pipelines run exactly the same functions.
"""

from __future__ import annotations

from typing import Any

import orjson

from pumpcore import Sink


def make_lines(n: int) -> list[bytes]:
    """``n`` JSON lines like ``{"id": 7, "user": "u7", "value": 1.75, "tags": ["a","b"]}``."""
    return [
        b'{"id": %d, "user": "u%d", "value": %d.75, "tags": ["a","b"]}' % (i, i, i % 100)
        for i in range(n)
    ]


def parse(context: dict[str, Any], event: bytes) -> Any:
    """bytes -> dict."""
    return orjson.loads(event)


def enrich(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Add value_x2."""
    event["value_x2"] = event["value"] * 2
    return event


def keep(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
    """Drop every tenth id."""
    return None if event["id"] % 10 == 0 else event


class CountSink(Sink):
    """Counts what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, context: dict[str, Any], event: Any) -> None:
        """Count the event."""
        self.count += 1


def plain_loop(lines: list[bytes], sink: CountSink) -> None:
    """What a user would write without a library: the same functions, a context per event."""
    for line in lines:
        context: dict[str, Any] = {}
        event = parse(context, line)
        event = enrich(context, event)
        event = keep(context, event)
        if event is not None:
            sink.process(context, event)
