"""Periodic, opportunistic, run-once and pub/sub triggers: scripted timelines, then properties."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pumpcore
from pumpcore.trigger import (
    OpportunisticTrigger,
    PeriodicTrigger,
    PubSub,
    PubSubTrigger,
    RunOnceTrigger,
    Trigger,
)


def run_on_time(trigger: Trigger, start: float, end: float) -> list[float]:
    """A punctual executor: start at ``start``, fire exactly when due, until ``end`` (excluded)."""
    trigger.start(start)
    fired: list[float] = []
    while (due := trigger.next_fire_at()) is not None and due < end:
        trigger.fire(due)
        trigger.cycle_done(due)
        fired.append(due)
    return fired


TRIGGER_FACTORIES: dict[str, Callable[[], Trigger]] = {
    "periodic": lambda: PeriodicTrigger(5),
    "opportunistic": lambda: OpportunisticTrigger(),
    "run_once": lambda: RunOnceTrigger(),
    "pubsub": lambda: PubSubTrigger(PubSub(), "Go!"),
}


# -- every trigger ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", TRIGGER_FACTORIES.values(), ids=TRIGGER_FACTORIES.keys())
def test_nothing_is_scheduled_before_start(make: Callable[[], Trigger]) -> None:
    trigger = make()
    assert not trigger.started
    assert trigger.next_fire_at() is None


@pytest.mark.parametrize("make", TRIGGER_FACTORIES.values(), ids=TRIGGER_FACTORIES.keys())
def test_fire_before_start_raises(make: Callable[[], Trigger]) -> None:
    trigger = make()
    with pytest.raises(RuntimeError, match="before start"):
        trigger.fire(0.0)


def test_id_keyword_is_bspump_compatible() -> None:
    assert PeriodicTrigger(5, id="poll").Id == "poll"
    assert PeriodicTrigger(5).Id == "PeriodicTrigger"
    assert OpportunisticTrigger(id="o").Id == "o"
    assert RunOnceTrigger(id="r").Id == "r"
    assert PubSubTrigger(PubSub(), "Go!", id="p").Id == "p"


def test_exports() -> None:
    import pumpcore.trigger as module

    assert module.__all__ == tuple(sorted(module.__all__))
    for name in module.__all__:
        assert getattr(module, name).__name__ == name
    assert all(issubclass(getattr(module, n), Trigger) for n in module.__all__ if n != "PubSub")


# -- PeriodicTrigger ------------------------------------------------------------------------


def test_periodic_fires_twelve_times_in_a_minute_every_five_seconds() -> None:
    fired = run_on_time(PeriodicTrigger(5), 0.0, 60.0)
    assert fired == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0]


def test_periodic_grid_is_anchored_at_start() -> None:
    assert run_on_time(PeriodicTrigger(2.5), 1000.5, 1008.0) == [1000.5, 1003.0, 1005.5]


def test_periodic_late_executor_fires_once_and_skips_to_the_grid() -> None:
    trigger = PeriodicTrigger(5)
    trigger.start(0.0)
    trigger.fire(0.0)
    assert trigger.next_fire_at() == 5.0
    trigger.fire(17.0)  # 5 is due; 10 and 15 went by
    assert trigger.next_fire_at() == 20.0
    assert trigger.missed == 2
    trigger.fire(20.1)  # a little late: nothing missed
    assert trigger.next_fire_at() == 25.0
    assert trigger.missed == 2


def test_periodic_late_on_a_grid_point_schedules_the_point_after_it() -> None:
    trigger = PeriodicTrigger(5)
    trigger.start(0.0)
    trigger.fire(0.0)
    trigger.fire(15.0)
    assert trigger.next_fire_at() == 20.0
    assert trigger.missed == 2


def test_periodic_early_fire_consumes_the_due_point() -> None:
    trigger = PeriodicTrigger(5)
    trigger.start(0.0)
    trigger.fire(0.0)
    trigger.fire(4.0)
    assert trigger.next_fire_at() == 10.0
    assert trigger.missed == 0


def test_periodic_one_ulp_before_a_grid_point() -> None:
    # (now - start) / interval rounds up to 8823 here although now is just below grid point 8823.
    trigger = PeriodicTrigger(0.3)
    trigger.start(0.0)
    now = math.nextafter(8823 * 0.3, -math.inf)
    assert math.floor(now / 0.3) == 8823
    trigger.fire(now)
    assert trigger.next_fire_at() == 8823 * 0.3
    assert trigger.missed == 8822  # this firing took grid point 0; points 1 to 8822 went by


def test_periodic_does_not_drift() -> None:
    trigger = PeriodicTrigger(0.1)
    trigger.start(0.0)
    accumulated = 0.0
    for _ in range(1000):
        due = trigger.next_fire_at()
        assert due is not None
        trigger.fire(due)
        accumulated += 0.1
    assert trigger.next_fire_at() == 1000 * 0.1
    assert accumulated != 1000 * 0.1  # what adding up the interval would have given instead


def test_periodic_restart_resets_the_grid() -> None:
    trigger = PeriodicTrigger(5)
    trigger.start(0.0)
    trigger.fire(12.0)
    trigger.start(100.0)
    assert (trigger.next_fire_at(), trigger.missed) == (100.0, 0)


def test_periodic_never_finishes() -> None:
    trigger = PeriodicTrigger(1)
    run_on_time(trigger, 0.0, 10.0)
    assert not trigger.finished()


@pytest.mark.parametrize("interval", [0, -1, 0.0, float("nan"), float("inf"), "5", True, None])
def test_periodic_refuses_bad_intervals(interval: Any) -> None:
    with pytest.raises(pumpcore.ConfigError, match="PeriodicTrigger 'poll'") as info:
        PeriodicTrigger(interval, id="poll")
    assert repr(interval) in str(info.value)


@given(
    interval_quarters=st.integers(1, 400),
    span_quarters=st.integers(0, 40_000),
    start_quarters=st.integers(0, 4 * 2_000_000_000),
)
def test_periodic_count_on_time_is_ceil_of_span_over_interval(
    interval_quarters: int, span_quarters: int, start_quarters: int
) -> None:
    # Quarters of a second are exact in binary floating point, so ceil is computed exactly.
    interval, span, start = interval_quarters / 4, span_quarters / 4, start_quarters / 4
    trigger = PeriodicTrigger(interval)
    fired = run_on_time(trigger, start, start + span)
    assert len(fired) == -(-span_quarters // interval_quarters)
    assert fired == [start + k * interval for k in range(len(fired))]
    assert trigger.missed == 0


@given(
    interval_quarters=st.integers(1, 400),
    delays=st.lists(st.integers(-100, 4000), max_size=30),
)
def test_periodic_late_or_early_next_is_first_grid_point_after_now(
    interval_quarters: int, delays: list[int]
) -> None:
    interval = interval_quarters / 4
    trigger = PeriodicTrigger(interval)
    trigger.start(0.0)
    for firings, delay in enumerate(delays, start=1):
        due = trigger.next_fire_at()
        assert due is not None
        now = due + delay / 4
        trigger.fire(now)
        nxt = trigger.next_fire_at()
        assert nxt is not None
        assert nxt > now
        assert nxt > due
        assert nxt - interval <= max(now, due)  # the first such grid point, none skipped extra
        assert (nxt / interval).is_integer()
        # Every grid point before the next one was either fired on or counted as missed.
        assert firings + trigger.missed == nxt / interval


@given(
    interval=st.floats(1e-3, 1e4),
    start=st.floats(0, 2e9),
    steps=st.lists(
        st.tuples(st.sampled_from(["delay", "on_grid", "just_before_grid"]), st.floats(-1, 50)),
        max_size=30,
    ),
)
def test_periodic_next_is_exactly_the_first_grid_point_after_now(
    interval: float, start: float, steps: list[tuple[str, float]]
) -> None:
    # Any floats: the executor fires late, early, exactly on a later grid point or one ulp before
    # it, where dividing by the interval rounds the wrong way.
    trigger = PeriodicTrigger(interval)
    trigger.start(start)
    for firings, (kind, amount) in enumerate(steps, start=1):
        due = trigger.next_fire_at()
        assert due is not None
        later = firings - 1 + trigger.missed + max(0, int(amount))
        if kind == "delay":
            now = due + amount * interval
        elif kind == "on_grid":
            now = start + later * interval
        else:
            now = math.nextafter(start + later * interval, -math.inf)
        trigger.fire(now)
        index = firings + trigger.missed
        assert trigger.next_fire_at() == start + index * interval
        assert start + index * interval > now
        assert start + (index - 1) * interval <= max(now, due)


# -- OpportunisticTrigger -------------------------------------------------------------------


def test_opportunistic_timeline() -> None:
    trigger = OpportunisticTrigger(chilldown_period=5)
    trigger.start(0.0)
    assert trigger.next_fire_at() == 0.0
    trigger.fire(0.0)
    assert trigger.next_fire_at() is None
    trigger.cycle_done(3.0)
    assert trigger.next_fire_at() == 8.0
    trigger.fire(8.2)
    assert trigger.next_fire_at() is None
    trigger.cycle_done(30.0)  # a long cycle: the next one waits for it
    assert trigger.next_fire_at() == 35.0
    assert not trigger.finished()


def test_opportunistic_scripted_executor_with_cycle_durations() -> None:
    trigger = OpportunisticTrigger(chilldown_period=2)
    trigger.start(10.0)
    fired: list[float] = []
    for duration in [1.0, 0.0, 7.5, 3.0]:
        due = trigger.next_fire_at()
        assert due is not None
        trigger.fire(due)
        fired.append(due)
        trigger.cycle_done(due + duration)
    assert fired == [10.0, 13.0, 15.0, 24.5]
    assert trigger.next_fire_at() == 29.5


def test_opportunistic_extra_cycle_done_is_ignored() -> None:
    trigger = OpportunisticTrigger(chilldown_period=5)
    trigger.start(0.0)
    trigger.cycle_done(1.0)  # no firing yet: the start firing stays due
    assert trigger.next_fire_at() == 0.0
    trigger.fire(0.0)
    trigger.cycle_done(3.0)
    trigger.cycle_done(4.0)
    assert trigger.next_fire_at() == 8.0


def test_opportunistic_default_chilldown_is_five_seconds() -> None:
    trigger = OpportunisticTrigger()
    trigger.start(0.0)
    trigger.fire(0.0)
    trigger.cycle_done(1.0)
    assert trigger.next_fire_at() == 6.0


def test_opportunistic_zero_chilldown_and_delayed_start() -> None:
    trigger = OpportunisticTrigger(chilldown_period=0)
    trigger.start(0.0)
    trigger.fire(0.0)
    trigger.cycle_done(2.5)
    assert trigger.next_fire_at() == 2.5
    delayed = OpportunisticTrigger(chilldown_period=3, run_immediately=False)
    delayed.start(10.0)
    assert delayed.next_fire_at() == 13.0


@pytest.mark.parametrize("chilldown", [-1, float("nan"), float("inf"), "5", False])
def test_opportunistic_refuses_bad_chilldown(chilldown: Any) -> None:
    with pytest.raises(pumpcore.ConfigError, match="OpportunisticTrigger 'o'") as info:
        OpportunisticTrigger(chilldown, id="o")
    assert repr(chilldown) in str(info.value)


# -- RunOnceTrigger -------------------------------------------------------------------------


def test_run_once_fires_once_at_start() -> None:
    trigger = RunOnceTrigger()
    assert run_on_time(trigger, 7.0, 1e9) == [7.0]
    assert trigger.finished()
    assert trigger.next_fire_at() is None


def test_run_once_is_not_finished_before_it_fires() -> None:
    trigger = RunOnceTrigger()
    assert not trigger.finished()
    trigger.start(3.0)
    assert not trigger.finished()
    assert trigger.next_fire_at() == 3.0


# -- PubSub ---------------------------------------------------------------------------------


def test_pubsub_calls_subscribers_in_order_with_the_message_name_first() -> None:
    pubsub = PubSub()
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    pubsub.subscribe("A!", lambda *a, **k: calls.append(("first", a, k)))
    pubsub.subscribe("A!", lambda *a, **k: calls.append(("second", a, k)))
    pubsub.subscribe("B!", lambda *a, **k: calls.append(("other", a, k)))
    pubsub.publish("A!", 1, x=2)
    assert calls == [("first", ("A!", 1), {"x": 2}), ("second", ("A!", 1), {"x": 2})]


def test_pubsub_publish_without_subscribers_does_nothing() -> None:
    pubsub = PubSub()
    pubsub.publish("Nobody!")
    assert pubsub.subscribers("Nobody!") == ()


def test_pubsub_subscribing_twice_delivers_once() -> None:
    pubsub = PubSub()
    calls: list[str] = []

    def callback(name: str) -> None:
        calls.append(name)

    pubsub.subscribe("A!", callback)
    pubsub.subscribe("A!", callback)
    pubsub.publish("A!")
    assert calls == ["A!"]


def test_pubsub_unsubscribe() -> None:
    pubsub = PubSub()
    calls: list[str] = []

    def callback(name: str) -> None:
        calls.append(name)

    pubsub.subscribe("A!", callback)
    pubsub.unsubscribe("A!", callback)
    pubsub.publish("A!")
    assert calls == []
    with pytest.raises(ValueError, match="not subscribed"):
        pubsub.unsubscribe("A!", callback)


def test_pubsub_unsubscribing_during_publish_keeps_this_delivery() -> None:
    pubsub = PubSub()
    calls: list[str] = []

    def first(name: str) -> None:
        calls.append("first")
        if second in pubsub.subscribers(name):
            pubsub.unsubscribe(name, second)

    def second(name: str) -> None:
        calls.append("second")

    pubsub.subscribe("A!", first)
    pubsub.subscribe("A!", second)
    pubsub.publish("A!")
    pubsub.publish("A!")
    assert calls == ["first", "second", "first"]


def test_pubsub_failing_subscriber_does_not_stop_the_others() -> None:
    pubsub = PubSub()
    calls: list[str] = []

    def broken(name: str) -> None:
        raise KeyError("boom")

    pubsub.subscribe("A!", broken)
    pubsub.subscribe("A!", lambda name: calls.append(name))
    with pytest.raises(ExceptionGroup) as info:
        pubsub.publish("A!")
    assert calls == ["A!"]
    assert [type(e) for e in info.value.exceptions] == [KeyError]


# -- PubSubTrigger --------------------------------------------------------------------------


def test_pubsub_trigger_timeline() -> None:
    pubsub = PubSub()
    trigger = PubSubTrigger(pubsub, "Go!")
    pubsub.publish("Go!")  # before start: ignored
    trigger.start(0.0)
    assert trigger.next_fire_at() is None
    assert trigger.received == 0
    pubsub.publish("Go!")
    assert trigger.next_fire_at() == float("-inf")
    pubsub.publish("Other!")
    pubsub.publish("Go!")
    pubsub.publish("Go!")
    trigger.fire(2.0)
    assert trigger.next_fire_at() is None
    assert (trigger.received, trigger.coalesced) == (3, 2)
    pubsub.publish("Go!", "payload", key=1)
    assert trigger.next_fire_at() == float("-inf")
    assert not trigger.finished()


def test_pubsub_trigger_scripted_executor() -> None:
    """Messages at 1.0 and 1.2 while the executor is busy until 1.5, then one at 5.0."""
    pubsub = PubSub()
    trigger = PubSubTrigger(pubsub, "Go!")
    trigger.start(0.0)
    fired: list[float] = []
    script: list[tuple[float, str]] = [(1.0, "publish"), (1.2, "publish"), (1.5, "poll")]
    script += [(5.0, "publish"), (5.0, "poll"), (9.0, "poll")]
    for now, action in script:
        if action == "publish":
            pubsub.publish("Go!")
            continue
        due = trigger.next_fire_at()
        if due is not None and due <= now:
            trigger.fire(now)
            fired.append(now)
    assert fired == [1.5, 5.0]
    assert trigger.coalesced == 1


def test_pubsub_trigger_several_message_names() -> None:
    pubsub = PubSub()
    trigger = PubSubTrigger(pubsub, ["A!", "B!"])
    trigger.start(0.0)
    pubsub.publish("B!")
    assert trigger.next_fire_at() == float("-inf")
    trigger.fire(0.0)
    pubsub.publish("A!")
    assert trigger.next_fire_at() == float("-inf")


def test_pubsub_trigger_close_unsubscribes_and_finishes() -> None:
    pubsub = PubSub()
    trigger = PubSubTrigger(pubsub, "Go!")
    trigger.start(0.0)
    pubsub.publish("Go!")
    trigger.close()
    trigger.close()
    assert pubsub.subscribers("Go!") == ()
    assert trigger.finished()
    assert trigger.next_fire_at() is None
    pubsub.publish("Go!")
    assert trigger.next_fire_at() is None


@given(st.lists(st.sampled_from(["publish", "other", "fire"]), max_size=50))
def test_pubsub_trigger_one_firing_per_burst(script: list[str]) -> None:
    pubsub = PubSub()
    trigger = PubSubTrigger(pubsub, "Go!")
    trigger.start(0.0)
    published = fired = 0
    pending = False
    for step in script:
        if step == "publish":
            pubsub.publish("Go!")
            published += 1
            pending = True
        elif step == "other":
            pubsub.publish("Other!")
        elif trigger.next_fire_at() is not None:
            trigger.fire(0.0)
            fired += 1
            pending = False
        assert (trigger.next_fire_at() is not None) == pending
    assert trigger.received == published
    # Every message either caused a firing, is still pending, or was merged into another.
    assert trigger.coalesced + fired + (1 if pending else 0) == published
