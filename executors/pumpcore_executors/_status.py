"""A live status line on stderr: events/s in and out, drops and errors per pipeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TextIO

from pumpcore import Pipeline, PipelineStatistics


def format_status(
    previous: dict[str, PipelineStatistics],
    current: dict[str, PipelineStatistics],
    interval: float,
) -> str:
    """One line: for each pipeline, in/s and out/s since ``previous``, drops and failures."""
    parts = []
    for pid, now in current.items():
        before = previous.get(pid)
        rate_in = (now.event_in - (before.event_in if before else 0)) / interval
        rate_out = (now.event_out - (before.event_out if before else 0)) / interval
        parts.append(
            f"{pid}: in {rate_in:,.0f}/s out {rate_out:,.0f}/s "
            f"drop {now.event_drop:,} warn {now.warning:,} err {now.error + now.source_error:,}"
        )
    return " | ".join(parts)


class StatusLine:
    """Redraws the status line every ``interval`` seconds from a daemon thread while running."""

    def __init__(self, pipelines: Sequence[Pipeline], stream: TextIO, interval: float = 1.0):
        self._pipelines = list(pipelines)
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pumpcore-status", daemon=True)

    def _snapshot(self) -> dict[str, PipelineStatistics]:
        return {p.Id: p.statistics() for p in self._pipelines}

    def _run(self) -> None:
        previous = self._snapshot()
        while not self._stop.wait(self._interval):
            current = self._snapshot()
            self._stream.write("\r\x1b[2K" + format_status(previous, current, self._interval))
            self._stream.flush()
            previous = current

    def __enter__(self) -> StatusLine:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._stream.write("\r\x1b[2K")
        self._stream.flush()
