"""The generated fast loop (``pumpcore/_fast.py``) does what the one-event-at-a-time model says:
every event reaches the sink, is dropped or fails at the step that raised, in order, for any
number of steps, with fresh contexts or given ones, under the soft and the hard policy."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pumpcore import Pipeline
from pumpcore.common import ListSink

# A step: ("add", k) adds k, ("drop", m) drops multiples of m, ("raise", v) raises on v.
_step = st.one_of(
    st.tuples(st.just("add"), st.integers(-3, 3)),
    st.tuples(st.just("drop"), st.integers(2, 5)),
    st.tuples(st.just("raise"), st.integers(0, 9)),
)


def make(kind: str, arg: int) -> Any:
    def add(context: dict[str, Any], event: int) -> int:
        return event + arg

    def drop(context: dict[str, Any], event: int) -> int | None:
        return None if event % arg == 0 else event

    def fail(context: dict[str, Any], event: int) -> int:
        if event == arg:
            raise ValueError(event)
        context["seen"] = context.get("seen", 0) + 1
        return event

    return {"add": add, "drop": drop, "raise": fail}[kind]


def model(
    steps: list[tuple[str, int]], events: list[int], hard: bool
) -> tuple[list[int], int, list[tuple[int, int]], int]:
    """Outputs, drops, failures (event as it entered the step, step index) and events taken."""
    out: list[int] = []
    drops, failures, taken = 0, [], 0
    for event in events:
        taken += 1
        for index, (kind, arg) in enumerate(steps):
            if kind == "raise" and event == arg:
                failures.append((event, index))
                break
            event = event + arg if kind == "add" else event
            if kind == "drop" and event % arg == 0:
                drops += 1
                break
        else:
            out.append(event)
            continue
        if failures and hard:
            break
    return out, drops, failures, taken


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(_step, max_size=6),
    events=st.lists(st.integers(0, 12), max_size=30),
    hard=st.booleans(),
    with_contexts=st.booleans(),
)
def test_the_fast_loop_matches_the_model(
    steps: list[tuple[str, int]], events: list[int], hard: bool, with_contexts: bool
) -> None:
    p = Pipeline("P", error_policy="hard" if hard else "soft")
    sink = ListSink(keep_contexts=True)
    p.build([], *(make(kind, arg) for kind, arg in steps), sink)
    assert p._fast
    failures: list[tuple[int, str]] = []
    p.add_failure_listener(lambda f: failures.append((f.event, f.component_id)))
    contexts = [{"n": i} for i in range(len(events))] if with_contexts else None
    taken = p.process_batch(events, contexts)
    out, drops, failed, expected_taken = model(steps, events, hard)
    assert sink.Events == out
    assert taken == expected_taken
    ids = p.processor_ids()
    assert failures == [(event, ids[index]) for event, index in failed]
    statistics = p.statistics()
    assert (statistics.event_in, statistics.event_out, statistics.event_drop) == (
        expected_taken,
        len(out),
        drops,
    )
    if with_contexts:  # the given contexts are the ones the steps and the sink see
        assert all("n" in context for context in sink.Contexts)
