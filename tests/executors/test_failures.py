"""Failure logging: safe against any event, rate-limited per component, summed up on a clock."""

from __future__ import annotations

import logging
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_executors._failures import FailureLog, safe_repr

from pumpcore import Failure, Pipeline, Sink
from pumpcore.common import IteratorSource, ListSink

from .conftest import run_kwargs


class Unrepresentable:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def failure(component: str = "parse", *, soft: bool = True, event: Any = "x") -> Failure:
    return Failure("P", component, {}, event, ValueError(f"bad {component}"), soft)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_safe_repr_shortens_and_survives_a_raising_repr() -> None:
    assert safe_repr("a" * 300).endswith("…")
    assert len(safe_repr("a" * 300)) == 201
    assert safe_repr(Unrepresentable()) == (
        "<unrepresentable Unrepresentable: ValueError('no repr for you')>"
    )


def test_an_unrepresentable_event_is_logged_without_crashing_the_run(
    executor: ExecutorName, caplog: pytest.LogCaptureFixture
) -> None:
    def reject(context: dict[str, Any], event: Any) -> Any:
        raise TypeError("rejected")

    p = Pipeline("P", error_policy="soft")
    p.build(IteratorSource([Unrepresentable()]), reject, ListSink())
    with caplog.at_level(logging.WARNING, logger="pumpcore.failures"):
        report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    assert report.statistics["P"].warning == 1
    assert messages(caplog) == [
        "P.reject dropped an event: TypeError('rejected') on event "
        "<unrepresentable Unrepresentable: ValueError('no repr for you')>"
    ]


def test_each_component_gets_its_own_lines_then_a_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = FailureLog([], lines_per_interval=2, interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pumpcore.failures"):
        for _ in range(5):
            log.report(failure("parse"))
        log.report(failure("enrich"))  # another component is not silenced by the first
        clock.now = 104.0
        log.report(failure("parse"))  # still in the interval: counted
        assert len(caplog.records) == 3
        clock.now = 110.0
        log.report(failure("parse"))  # a new interval: the summary, then this one
    assert messages(caplog) == [
        "P.parse dropped an event: ValueError('bad parse') on event 'x'",
        "P.parse dropped an event: ValueError('bad parse') on event 'x' "
        "(further failures of P.parse in the next 10 s are summed up)",
        "P.enrich dropped an event: ValueError('bad enrich') on event 'x'",
        "4 more failures of P.parse in the last 10.0 s (counted in its statistics)",
        "P.parse dropped an event: ValueError('bad parse') on event 'x'",
    ]


def test_detach_sums_up_what_was_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = FailureLog([], lines_per_interval=1, interval=60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pumpcore.failures"):
        log.report(failure(soft=False))
        log.report(failure(soft=True))
        log.report(failure(soft=False))
        clock.now = 102.5
        log.detach()
        log.detach()  # nothing twice
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]
    assert messages(caplog)[-1] == (
        "2 more failures of P.parse in the last 2.5 s (counted in its statistics)"
    )


def test_a_raising_clock_does_not_escape(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> float:
        raise RuntimeError("clock broke")

    log = FailureLog([], clock=broken)
    with caplog.at_level(logging.WARNING, logger="pumpcore.failures"):
        log.report(failure())
        log.detach()
    assert messages(caplog) == ["cannot report a failure of pipeline P"]


def test_a_failing_dead_letter_sink_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Sink):
        def process(self, context: dict[str, Any], event: Any) -> None:
            raise OSError("dead letter disk full")

    def parse(context: dict[str, Any], event: str) -> int:
        return int(event)

    sink = ListSink()
    p = Pipeline("P", error_policy="soft")
    p.build(IteratorSource(["1", "x", "2"]), parse, sink)
    p.set_dead_letter(Broken(id="Dead"))
    with caplog.at_level(logging.WARNING, logger="pumpcore.failures"):
        report = pumpcore_executors.run(p, handle_signals=False)
    assert sink.Events == [1, 2]
    assert report.statistics["P"].dead_letter_error == 1
    assert messages(caplog)[1].startswith(
        "P.Dead dropped an event: OSError('dead letter disk full')"
    )
