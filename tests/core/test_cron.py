"""CronTrigger: scripted schedules (DST included), then agreement with a brute-force matcher."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import pumpcore
from pumpcore.trigger import CronTrigger

UTC = dt.UTC
PRAGUE = ZoneInfo("Europe/Prague")


def ts(text: str) -> float:
    """Seconds since the epoch of an ISO time with an offset."""
    return dt.datetime.fromisoformat(text).timestamp()


def iso(seconds: float, zone: dt.tzinfo = UTC) -> str:
    return dt.datetime.fromtimestamp(seconds, zone).isoformat()


def firings(trigger: CronTrigger, start: float, count: int, zone: dt.tzinfo = UTC) -> list[str]:
    """A punctual executor: the first ``count`` firings from ``start``, as ISO times in ``zone``."""
    trigger.start(start)
    out: list[str] = []
    for _ in range(count):
        due = trigger.next_fire_at()
        assert due is not None
        out.append(iso(due, zone))
        trigger.fire(due)
    return out


# -- scripted schedules ---------------------------------------------------------------------


def test_every_quarter_hour() -> None:
    assert firings(CronTrigger("*/15 * * * *"), ts("2024-01-01T00:07:30+00:00"), 4) == [
        "2024-01-01T00:15:00+00:00",
        "2024-01-01T00:30:00+00:00",
        "2024-01-01T00:45:00+00:00",
        "2024-01-01T01:00:00+00:00",
    ]


def test_start_on_a_matching_minute_fires_at_start() -> None:
    trigger = CronTrigger("*/15 * * * *")
    trigger.start(ts("2024-01-01T00:15:00+00:00"))
    assert trigger.next_fire_at() == ts("2024-01-01T00:15:00+00:00")
    trigger.start(ts("2024-01-01T00:15:00.5+00:00"))
    assert trigger.next_fire_at() == ts("2024-01-01T00:30:00+00:00")


def test_ranges_steps_and_lists() -> None:
    starts = firings(CronTrigger("1-30/5,59 9 * * *"), ts("2024-01-01T00:00:00+00:00"), 8)
    assert [s[11:16] for s in starts] == [
        "09:01", "09:06", "09:11", "09:16", "09:21", "09:26", "09:59", "09:01",
    ]  # fmt: skip
    assert starts[-1].startswith("2024-01-02")


def test_value_with_step_runs_to_the_end_of_the_field() -> None:
    got = firings(CronTrigger("5/20 0 * * *"), ts("2024-01-01T00:00:00+00:00"), 4)
    assert [s[11:16] for s in got] == ["00:05", "00:25", "00:45", "00:05"]


def test_month_and_weekday_names_any_case() -> None:
    expected = firings(CronTrigger("0 9 * 1,7 1-5"), ts("2024-06-29T00:00:00+00:00"), 6)
    assert firings(CronTrigger("0 9 * jan,JUL Mon-fri"), ts("2024-06-29T00:00:00+00:00"), 6) == (
        expected
    )
    assert expected[0] == "2024-07-01T09:00:00+00:00"  # Monday; June is skipped


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN"])
def test_seven_is_sunday(sunday: str) -> None:
    got = firings(CronTrigger(f"0 0 * * {sunday}"), ts("2024-01-01T00:00:00+00:00"), 2)
    assert got == ["2024-01-07T00:00:00+00:00", "2024-01-14T00:00:00+00:00"]


def test_weekday_range_up_to_seven() -> None:
    got = firings(CronTrigger("0 0 * * 5-7"), ts("2024-01-01T00:00:00+00:00"), 4)
    assert [s[:10] for s in got] == ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-12"]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    got = firings(CronTrigger("0 12 13 * fri"), ts("2024-09-01T00:00:00+00:00"), 7)
    # Fridays and the 13th; Friday the 13th fires once.
    assert [s[:10] for s in got] == [
        "2024-09-06", "2024-09-13", "2024-09-20", "2024-09-27",
        "2024-10-04", "2024-10-11", "2024-10-13",
    ]  # fmt: skip


def test_only_weekday_restricted_means_only_those_weekdays() -> None:
    got = firings(CronTrigger("0 12 * * fri"), ts("2024-09-01T00:00:00+00:00"), 3)
    assert [s[:10] for s in got] == ["2024-09-06", "2024-09-13", "2024-09-20"]


def test_only_day_of_month_restricted_means_only_those_days() -> None:
    got = firings(CronTrigger("0 12 13 * *"), ts("2024-09-01T00:00:00+00:00"), 3)
    assert [s[:10] for s in got] == ["2024-09-13", "2024-10-13", "2024-11-13"]


def test_stepped_day_of_month_counts_as_restricted() -> None:
    # Vixie cron would read "*/10" as unrestricted (it starts with "*") and demand both.
    got = firings(CronTrigger("0 0 */10 * mon"), ts("2024-01-01T00:00:00+00:00"), 5)
    assert [s[:10] for s in got] == [
        "2024-01-01", "2024-01-08", "2024-01-11", "2024-01-15", "2024-01-21",
    ]  # fmt: skip


def test_full_range_counts_as_unrestricted() -> None:
    got = firings(CronTrigger("0 0 1-31 * mon"), ts("2024-01-01T00:00:00+00:00"), 2)
    assert [s[:10] for s in got] == ["2024-01-01", "2024-01-08"]


def test_day_31_skips_short_months() -> None:
    got = firings(CronTrigger("0 0 31 * *"), ts("2024-04-01T00:00:00+00:00"), 3)
    assert [s[:10] for s in got] == ["2024-05-31", "2024-07-31", "2024-08-31"]


def test_february_29_across_the_skipped_leap_year_2100() -> None:
    got = firings(CronTrigger("0 0 29 2 *"), ts("2097-03-01T00:00:00+00:00"), 2)
    assert got == ["2104-02-29T00:00:00+00:00", "2108-02-29T00:00:00+00:00"]


def test_last_minute_of_the_year() -> None:
    got = firings(CronTrigger("59 23 31 12 *"), ts("2024-01-01T00:00:00+00:00"), 2)
    assert got == ["2024-12-31T23:59:00+00:00", "2025-12-31T23:59:00+00:00"]


@pytest.mark.parametrize(
    ("macro", "expression"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_macros(macro: str, expression: str) -> None:
    start = ts("2024-05-05T05:05:05+00:00")
    assert firings(CronTrigger(macro), start, 3) == firings(CronTrigger(expression), start, 3)


def test_late_executor_skips_missed_minutes() -> None:
    trigger = CronTrigger("* * * * *")
    trigger.start(ts("2024-01-01T00:00:00+00:00"))
    trigger.fire(ts("2024-01-01T00:05:30.5+00:00"))
    assert trigger.next_fire_at() == ts("2024-01-01T00:06:00+00:00")


def test_early_executor_does_not_fire_the_same_minute_twice() -> None:
    trigger = CronTrigger("0 * * * *")
    trigger.start(ts("2024-01-01T00:30:00+00:00"))
    trigger.fire(ts("2024-01-01T00:59:59.9+00:00"))
    assert trigger.next_fire_at() == ts("2024-01-01T02:00:00+00:00")


def test_timezone_shifts_the_wall_clock() -> None:
    got = firings(
        CronTrigger("0 9 * * *", timezone="Asia/Kolkata"), ts("2024-01-01T00:00+00:00"), 1
    )
    assert got == ["2024-01-01T03:30:00+00:00"]


def test_dst_spring_forward_skips_the_missing_time() -> None:
    trigger = CronTrigger("30 2 * * *", timezone="Europe/Prague")
    got = firings(trigger, ts("2024-03-30T00:00:00+01:00"), 3, PRAGUE)
    # 2024-03-31 02:30 does not exist in Prague (02:00 CET jumps to 03:00 CEST).
    assert got == [
        "2024-03-30T02:30:00+01:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_dst_fall_back_fires_an_ambiguous_time_once() -> None:
    got = firings(CronTrigger("30 2 * * *", timezone="Europe/Prague"), ts("2024-10-26T12:00Z"), 2)
    # 02:30 happens twice on 2024-10-27: first at 00:30Z (CEST), then 01:30Z (CET).
    assert got == ["2024-10-27T00:30:00+00:00", "2024-10-28T01:30:00+00:00"]


def test_dst_fall_back_every_half_hour() -> None:
    got = firings(CronTrigger("*/30 * * * *", timezone="Europe/Prague"), ts("2024-10-26T23:00Z"), 6)
    assert got == [
        "2024-10-26T23:00:00+00:00",  # 01:00 CEST
        "2024-10-26T23:30:00+00:00",
        "2024-10-27T00:00:00+00:00",  # 02:00 CEST, first pass
        "2024-10-27T00:30:00+00:00",
        "2024-10-27T02:00:00+00:00",  # 03:00 CET: the second pass of 02:xx does not fire again
        "2024-10-27T02:30:00+00:00",
    ]


def test_start_inside_the_repeated_hour() -> None:
    trigger = CronTrigger("0 * * * *", timezone="Europe/Prague")
    trigger.start(ts("2024-10-27T01:10:00+00:00"))  # 02:10 CET, the second pass
    assert trigger.next_fire_at() == ts("2024-10-27T02:00:00+00:00")  # 03:00 CET


def test_results_are_whole_minutes() -> None:
    trigger = CronTrigger("*/7 * * * *", timezone="Australia/Lord_Howe")
    trigger.start(1_700_000_000.123)
    due = trigger.next_fire_at()
    assert due is not None
    assert due % 60 == 0
    assert due > 1_700_000_000.123


def test_repr_names_expression_and_zone() -> None:
    assert repr(CronTrigger("0 * * * *", id="c")) == "<CronTrigger 'c' '0 * * * *' UTC>"


def test_fire_before_start() -> None:
    trigger = CronTrigger("* * * * *")
    assert trigger.next_fire_at() is None
    with pytest.raises(RuntimeError, match="before start"):
        trigger.fire(0.0)


@pytest.mark.parametrize(
    ("expression", "field", "value"),
    [
        ("60 * * * *", "minute", "60"),
        ("-1 * * * *", "minute", "-1"),
        ("a * * * *", "minute", "a"),
        ("1,,2 * * * *", "minute", ""),
        ("*/0 * * * *", "minute", "*/0"),
        ("5-1 * * * *", "minute", "5-1"),
        ("1/2/3 * * * *", "minute", "1/2/3"),
        ("\u00b2 * * * *", "minute", "\u00b2"),
        ("* 24 * * *", "hour", "24"),
        ("* * 0 * *", "day-of-month", "0"),
        ("* * 32 * *", "day-of-month", "32"),
        ("* * * 13 *", "month", "13"),
        ("* * * foo *", "month", "foo"),
        ("* * * mon *", "month", "mon"),
        ("* * * * 8", "day-of-week", "8"),
        ("* * * * mon-", "day-of-week", "mon-"),
        ("* * * * jan", "day-of-week", "jan"),
        ("* * * * ?", "day-of-week", "?"),
    ],
)
def test_bad_field_names_field_and_value(expression: str, field: str, value: str) -> None:
    with pytest.raises(pumpcore.ConfigError) as info:
        CronTrigger(expression, id="nightly")
    message = str(info.value)
    assert f"bad {field} value {value!r}" in message
    assert "'nightly'" in message


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * *", "@reboot"])
def test_wrong_number_of_fields(expression: str) -> None:
    with pytest.raises(pumpcore.ConfigError, match="expected 5"):
        CronTrigger(expression)


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 feb-apr/2 *"])
def test_impossible_expression_is_refused(expression: str) -> None:
    with pytest.raises(pumpcore.ConfigError, match="never matches"):
        CronTrigger(expression)


def test_search_bound_raises_config_error() -> None:
    trigger = CronTrigger("0 0 29 2 *")  # after 9996-02-29 the next would be in year 10000
    with pytest.raises(pumpcore.ConfigError, match="does not match within"):
        trigger.start(ts("9996-03-01T00:00:00+00:00"))


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../etc/passwd", ""])
def test_unknown_timezone(zone: str) -> None:
    with pytest.raises(pumpcore.ConfigError, match="unknown timezone") as info:
        CronTrigger("* * * * *", timezone=zone)
    assert repr(zone) in str(info.value)


# -- properties against a brute-force matcher -------------------------------------------------

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def field(
    draw: st.DrawFn, lowest: int, highest: int, names: dict[int, str], star_in: int = 2
) -> tuple[str, frozenset[int]]:
    """A field's text and, computed independently of the parser, the set of values it means.

    The field is a plain ``*`` with odds (star_in - 1) / star_in, so day fields often match soon.
    """

    def render(value: int) -> str:
        if value in names and draw(st.booleans()):
            name = names[value]
            return name.upper() if draw(st.booleans()) else name
        return str(value)

    if draw(st.integers(1, star_in)) > 1:
        return "*", frozenset(range(lowest, highest + 1))
    items: list[str] = []
    values: set[int] = set()
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.integers(lowest, highest))
        b = draw(st.integers(a, highest))
        step = draw(st.integers(1, max(1, (highest - lowest) // 2)))
        kind = draw(st.sampled_from(["value", "range", "range/step", "value/step", "*/step"]))
        if kind == "value":
            items.append(render(a))
            values.add(a)
        elif kind == "range":
            items.append(f"{render(a)}-{render(b)}")
            values.update(range(a, b + 1))
        elif kind == "range/step":
            items.append(f"{render(a)}-{render(b)}/{step}")
            values.update(range(a, b + 1, step))
        elif kind == "value/step":
            items.append(f"{render(a)}/{step}")
            values.update(range(a, highest + 1, step))
        else:
            items.append(f"*/{step}")
            values.update(range(lowest, highest + 1, step))
    return ",".join(items), frozenset(values)


Fields = tuple[frozenset[int], ...]


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, Fields]:
    minute = draw(field(0, 59, {}))
    hour = draw(field(0, 23, {}))
    day = draw(field(1, 31, {}, star_in=3))
    month = draw(field(1, 12, {i + 1: n for i, n in enumerate(MONTHS)}, star_in=4))
    text, weekday = draw(field(0, 7, dict(enumerate(WEEKDAYS)), star_in=3))
    weekday_values = frozenset(0 if v == 7 else v for v in weekday)
    parts = (minute, hour, day, month, (text, weekday_values))
    return " ".join(p[0] for p in parts), tuple(p[1] for p in parts)


def brute_matches(fields: Fields, local: dt.datetime) -> bool:
    minutes, hours, days, months, weekdays = fields
    in_days = local.day in days
    in_weekdays = local.isoweekday() % 7 in weekdays
    if len(days) < 31 and len(weekdays) < 7:
        day_ok = in_days or in_weekdays
    else:
        day_ok = in_days and in_weekdays
    return local.minute in minutes and local.hour in hours and local.month in months and day_ok


def brute_force(fields: Fields, zone: dt.tzinfo, start: float, end: float) -> list[float]:
    """Every matching instant in [start, end), minute by minute on the UTC clock."""
    out: list[float] = []
    for minute in range(math.ceil(start / 60), math.ceil(end / 60)):
        local = dt.datetime.fromtimestamp(minute * 60, zone)
        if local.fold == 1:
            continue  # second occurrence of a repeated wall time: fired at the first one
        if brute_matches(fields, local):
            out.append(minute * 60.0)
    return out


def never_matches(fields: Fields) -> bool:
    """No day of 2024, a leap year, matches the month and day fields."""
    day = dt.date(2024, 1, 1)
    while day.year == 2024:
        at = dt.datetime(day.year, day.month, day.day, min(fields[1]), min(fields[0]))
        if brute_matches(fields, at):
            return False
        day += dt.timedelta(days=1)
    return True


# Each zone with the 2024 instants its UTC offset changes (gaps and repeated wall times), and
# zones without DST with year-end and leap-day instants.
DST_CHANGES = {
    "Europe/Prague": ["2024-03-31T01:00Z", "2024-10-27T01:00Z"],
    "America/New_York": ["2024-03-10T07:00Z", "2024-11-03T06:00Z"],
    "Australia/Lord_Howe": ["2024-04-06T15:00Z", "2024-10-05T15:30Z"],  # 30-minute shifts
    "Pacific/Chatham": ["2024-04-06T14:00Z", "2024-09-28T14:00Z"],  # +12:45 / +13:45
    "America/St_Johns": ["2024-03-10T05:30Z", "2024-11-03T04:30Z"],  # -3:30 / -2:30
}
ZONES = ["UTC", "Asia/Kolkata", *DST_CHANGES]
OTHER_BASES = ["2024-12-31T23:59Z", "2024-02-28T12:00Z", "2024-06-15T00:00Z"]
ZONE_BASES = [(zone, ts(at)) for zone, changes in DST_CHANGES.items() for at in changes]
ZONE_BASES += [(zone, ts(at)) for zone in ZONES for at in OTHER_BASES]


def test_dst_changes_listed_are_real() -> None:
    for zone_name, changes in DST_CHANGES.items():
        zone = ZoneInfo(zone_name)
        for at in changes:
            before = dt.datetime.fromtimestamp(ts(at) - 1, zone).utcoffset()
            assert before != dt.datetime.fromtimestamp(ts(at), zone).utcoffset()


WINDOW = 8 * 86400.0


@settings(deadline=None, max_examples=150)
@given(
    expression=expressions(),
    zone_base=st.sampled_from(ZONE_BASES),
    offset=st.one_of(st.integers(-4 * 86400, 4 * 86400), st.integers(-3 * 3600, 3 * 3600)),
    fraction=st.sampled_from([0.0, 0.25, 0.999]),
    delays=st.lists(
        st.one_of(st.just(0.0), st.floats(-59.0, 0.0), st.floats(0.0, 6 * 3600.0)), max_size=20
    ),
)
def test_cron_agrees_with_brute_force(
    expression: tuple[str, Fields],
    zone_base: tuple[str, float],
    offset: int,
    fraction: float,
    delays: list[float],
) -> None:
    text, fields = expression
    zone_name, base = zone_base
    zone: dt.tzinfo = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    start = base + offset + fraction
    end = start + WINDOW
    expected = brute_force(fields, zone, start, end)
    if never_matches(fields):
        assert expected == []
        with pytest.raises(pumpcore.ConfigError, match="never matches"):
            CronTrigger(text, timezone=zone_name)
        return
    trigger = CronTrigger(text, timezone=zone_name)
    trigger.start(start)
    after, inclusive = start, True
    previous = -math.inf
    for delay in [*delays, 0.0]:
        due = trigger.next_fire_at()
        assert due is not None
        i = (
            bisect.bisect_left(expected, after)
            if inclusive
            else bisect.bisect_right(expected, after)
        )
        if i == len(expected):
            event("ran past the brute-force window")
            assert due >= end  # the brute force saw no match in its window, nor may the trigger
            return
        assert (text, iso(due, zone)) == (text, iso(expected[i], zone))
        event("compared a firing")
        local = dt.datetime.fromtimestamp(due, zone)
        assert (local.second, local.microsecond) == (0, 0)
        assert due > previous
        previous = due
        now = due + delay
        trigger.fire(now)
        after, inclusive = max(now, due), False


@settings(deadline=None)
@given(expression=expressions(), zone_name=st.sampled_from(ZONES), start=st.integers(0, 2**32))
def test_cron_firings_are_whole_minutes_and_increasing(
    expression: tuple[str, Fields], zone_name: str, start: int
) -> None:
    text, fields = expression
    if never_matches(fields):
        return
    trigger = CronTrigger(text, timezone=zone_name)
    trigger.start(float(start))
    previous = float(start) - 1
    for _ in range(20):
        due = trigger.next_fire_at()
        assert due is not None
        assert due > previous
        assert due % 60 == 0  # every zone listed has whole-minute offsets in this range
        assert brute_matches(fields, dt.datetime.fromtimestamp(due, ZoneInfo(zone_name)))
        previous = due
        trigger.fire(due)
