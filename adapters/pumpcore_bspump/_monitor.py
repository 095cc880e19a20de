"""What the web API shows: pipelines, sources, components and lookups, read as snapshots.

``Monitor`` watches the pipelines of a ``Pump`` (it keeps each one's last few failures, through
failure listeners; event counts per component are the pipelines' own ``component_statistics``)
and renders them as JSON-ready dicts and as Prometheus text. It does no I/O: a host application
mounts ``WebAPI`` (``_web_api``) or calls these methods itself. Readings come from another
thread than the pipelines': every one is a snapshot (``statistics()``, a copied dict or set),
never a live structure.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import attrs

from pumpcore import Failure, Pipeline, Pump
from pumpcore.lowlevel import IOSource

# How many failures are kept per pipeline for /bspump/v1/pipelines.
RECENT_FAILURES = 20


def _label(value: object) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: object) -> float | None:
    """``value`` as a sample value when it is a plain number (a position may be anything)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _format(value: float) -> str:
    return repr(int(value)) if value == int(value) and abs(value) < 2**53 else repr(value)


class _Family:
    """One metric family: HELP, TYPE and its samples."""

    def __init__(self, name: str, kind: str, help: str) -> None:
        self.name, self.kind, self.help = name, kind, help
        self.samples: list[tuple[dict[str, object], float]] = []

    def add(self, value: float, **labels: object) -> None:
        self.samples.append((labels, value))

    def lines(self) -> Iterator[str]:
        # Text format 0.0.4 names a counter's family by its samples' name, `_total` included.
        name = self.name + ("_total" if self.kind == "counter" else "")
        yield f"# HELP {name} {self.help}"
        yield f"# TYPE {name} {self.kind}"
        for labels, value in self.samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            yield f"{name}{{{text}}} {_format(value)}"


class Monitor:
    """Snapshots of a pump's pipelines for the web API and Prometheus."""

    def __init__(self, pump: Pump) -> None:
        self.Pump = pump
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._watched: set[str] = set()
        self.watch()

    def watch(self) -> None:
        """Listen to the failures of every pipeline of the pump not watched yet."""
        for pipeline in self.Pump:
            if pipeline.Id not in self._watched:
                self._watched.add(pipeline.Id)
                self._recent[pipeline.Id] = deque(maxlen=RECENT_FAILURES)
                pipeline.add_failure_listener(self._failed)

    def _failed(self, failure: Failure) -> None:
        self._recent[failure.pipeline_id].append(
            {
                "component": failure.component_id,
                "exception": repr(failure.exception),
                "soft": failure.soft,
                "time": time.time(),
            }
        )

    # ------------------------------------------------------------ JSON

    def pipelines(self) -> dict[str, Any]:
        """``/bspump/v1/pipelines``: each pipeline's readiness, counters, timings and errors."""
        return {p.Id: self.pipeline(p) for p in self.Pump}

    def pipeline(self, pipeline: Pipeline) -> dict[str, Any]:
        """One pipeline as ``pipelines`` shows it."""
        stats = pipeline.statistics()
        last = pipeline.last_error
        return {
            "ready": pipeline.is_ready(),
            "error": None if last is None else f"{last.component_id}: {last.exception!r}",
            "throttles": sorted(repr(who) for who in pipeline.get_throttles()),
            "statistics": stats.as_dict(),
            "timings": {
                cid: {"samples": t.samples, "seconds": t.total} for cid, t in stats.timings.items()
            },
            "sources": [self._source(pipeline, s) for s in pipeline.iter_sources()],
            "processors": list(pipeline.processor_ids()),
            "components": {
                cid: counts.as_dict() for cid, counts in pipeline.component_statistics().items()
            },
            "errors": list(self._recent.get(pipeline.Id, ())),
        }

    def _source(self, pipeline: Pipeline, source: Any) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": source.Id, "buffered": source.buffered()}
        if isinstance(source, IOSource):
            ledger = source.ledger
            shown.update(
                pending=ledger.pending(),
                committed=ledger.taken,
                commit_position=repr(ledger.last_taken) if ledger.taken else None,
                poisoned=ledger.poisoned,
            )
        return shown

    def lookups(self) -> dict[str, Any]:
        """``/bspump/v1/lookups``: each lookup's type and load counters."""
        return {
            lookup.Id: {"type": type(lookup).__name__, **attrs.asdict(lookup.statistics())}
            for lookup in self.Pump.lookups
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy unless a pipeline stopped by an error; the body names those that did."""
        failed = {
            p.Id: f"{p.last_error.component_id}: {p.last_error.exception!r}"
            for p in self.Pump
            if p.is_error() and p.last_error is not None
        }
        return not failed, {"status": "failed" if failed else "ok", "failed": failed}

    # ------------------------------------------------------------ Prometheus

    def metrics(self) -> str:
        """Every pipeline, component, source and lookup in Prometheus' text format (0.0.4)."""
        self.watch()
        families: dict[str, _Family] = {}

        def family(name: str, kind: str, help: str) -> _Family:
            if name not in families:
                families[name] = _Family(name, kind, help)
            return families[name]

        for pipeline in self.Pump:
            pid = pipeline.Id
            stats = pipeline.statistics()
            for key, value in stats.as_dict().items():
                name = "pumpcore_pipeline_" + key.replace(".", "_")
                family(name, "counter", f"BSPump's {key} of each pipeline").add(value, pipeline=pid)
            family("pumpcore_pipeline_ready", "gauge", "1 while the pipeline takes events").add(
                pipeline.is_ready(), pipeline=pid
            )
            family(
                "pumpcore_pipeline_throttles", "gauge", "who throttles the pipeline now (count)"
            ).add(len(pipeline.get_throttles()), pipeline=pid)
            family(
                "pumpcore_pipeline_stopped_by_error", "gauge", "1 once a hard error stopped it"
            ).add(pipeline.is_error(), pipeline=pid)
            for cid, timing in stats.timings.items():
                family(
                    "pumpcore_component_timing_samples", "counter", "events timed per component"
                ).add(timing.samples, pipeline=pid, component=cid)
                family(
                    "pumpcore_component_timing_seconds",
                    "counter",
                    "seconds spent on the timed events per component",
                ).add(timing.total, pipeline=pid, component=cid)
            for cid, counts in pipeline.component_statistics().items():
                events = family(
                    "pumpcore_component_events",
                    "counter",
                    "events per component: in, out, drop, warning, error, generated, absorbed",
                )
                for kind, value in (
                    ("in", counts.event_in),
                    ("out", counts.event_out),
                    ("drop", counts.event_drop),
                    ("warning", counts.warning),
                    ("error", counts.error),
                    ("generated", counts.event_generated),
                    ("absorbed", counts.event_absorbed),
                ):
                    events.add(value, pipeline=pid, component=cid, kind=kind)
                family(
                    "pumpcore_component_in_flight",
                    "gauge",
                    "events suspended at an async or blocking component",
                ).add(counts.in_flight, pipeline=pid, component=cid)
            for source in pipeline.iter_sources():
                self._source_metrics(family, pid, source)
        for lookup in self.Pump.lookups:
            lstats = lookup.statistics()
            for key in ("loaded", "unchanged", "failed"):
                family(f"pumpcore_lookup_{key}", "counter", f"lookup loads {key}").add(
                    getattr(lstats, key), lookup=lookup.Id
                )
            family("pumpcore_lookup_version", "gauge", "times the table was replaced").add(
                lstats.version, lookup=lookup.Id
            )
        lines = [line for f in families.values() for line in f.lines()]
        return "\n".join(lines) + "\n"

    def _source_metrics(self, family: Any, pid: str, source: Any) -> None:
        sid = source.Id
        family(
            "pumpcore_source_buffered", "gauge", "events read or queued, not taken yet (lag)"
        ).add(source.buffered(), pipeline=pid, source=sid)
        if not isinstance(source, IOSource):
            return
        ledger = source.ledger
        family(
            "pumpcore_source_pending_positions", "gauge", "positions waiting to be acknowledged"
        ).add(ledger.pending(), pipeline=pid, source=sid)
        family("pumpcore_source_committed_positions", "counter", "positions taken by commits").add(
            ledger.taken, pipeline=pid, source=sid
        )
        family("pumpcore_source_poisoned", "gauge", "1 once nothing more is acknowledged").add(
            ledger.poisoned, pipeline=pid, source=sid
        )
        position = _number(ledger.last_taken)
        if position is not None:
            family(
                "pumpcore_source_commit_position", "gauge", "the last position a commit took"
            ).add(position, pipeline=pid, source=sid)
