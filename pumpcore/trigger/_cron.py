"""CronTrigger: fires on the minutes a 5-field crontab expression matches, in a given timezone.

Rules:
1. Fields are ``minute hour day-of-month month day-of-week``. Each is a comma list of items:
   ``*``, ``N``, ``A-B``, each optionally ``/STEP`` (``N/STEP`` means ``N-max/STEP``). Month and
   weekday names (``jan``, ``mon``) are accepted anywhere a number is; weekday 7 is Sunday, as 0.
   The usual macros (``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``,
   ``@yearly``/``@annually``) stand for their 5-field expansion.
2. Day-of-month and day-of-week: when both are restricted, a day matches if EITHER matches;
   otherwise both must (the unrestricted one matches every day). A field is restricted when it
   leaves out some value. Vixie cron instead calls any field starting with ``*`` unrestricted,
   so ``*/2`` there is unrestricted and here is not; we follow the values, not the spelling.
3. Matching is done on the wall clock of ``timezone``. A local minute that does not exist
   (skipped by a DST jump forward) never fires; one that occurs twice (DST fall back) fires once,
   at its first occurrence.
4. The first firing is the first matching minute at or after start; each later one is the first
   matching minute strictly after the firing (after its due time if the executor fired early, so a
   minute is never fired twice; after ``now`` if late, so missed minutes are skipped).
5. The search jumps by field (to the next allowed month, day, hour, minute), so it is cheap even
   for rare schedules. It gives up after ``_SEARCH_YEARS`` years: enough for February 29 across a
   skipped leap year (2096 to 2104); expressions that can never match are refused when built.
"""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo
from collections.abc import Mapping

from .._errors import ConfigError
from ._base import Trigger

_SEARCH_YEARS = 9

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_WEEKDAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
# (field name, lowest value, highest value, names); day-of-week accepts 7, folded onto 0 later.
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 7, _WEEKDAY_NAMES),
)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The longest each month can be (February in a leap year), to refuse "0 0 30 2 *" when built.
_MAX_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _first_at_least(values: tuple[int, ...], lowest: int) -> int | None:
    """The smallest of the sorted ``values`` that is >= ``lowest``, or None."""
    i = bisect.bisect_left(values, lowest)
    return values[i] if i < len(values) else None


class CronTrigger(Trigger):
    """Fire on the minutes a crontab expression matches.

    Args:
        expression: ``minute hour day-of-month month day-of-week``,
            e.g. ``"*/15 9-17 * * mon-fri"``.
        timezone: the IANA zone (``"Europe/Prague"``) on whose wall clock the expression is read.
        id: the trigger's id (BSPump-compatible keyword); defaults to the class name.

    Raises:
        ConfigError: the expression is malformed (the message names the field and the bad value),
            can never match, or the timezone is unknown.

    Example:
        >>> trigger = CronTrigger("30 9 * * mon-fri", timezone="Europe/Prague")
        >>> trigger.start(1704067200.0)  # Monday 2024-01-01 00:00 UTC
        >>> dt.datetime.fromtimestamp(trigger.next_fire_at(), dt.UTC).isoformat()
        '2024-01-01T08:30:00+00:00'
        >>> trigger.fire(trigger.next_fire_at())
        >>> dt.datetime.fromtimestamp(trigger.next_fire_at(), dt.UTC).isoformat()
        '2024-01-02T08:30:00+00:00'
    """

    def __init__(self, expression: str, timezone: str = "UTC", id: str | None = None) -> None:
        super().__init__(id=id)
        self.expression = expression
        self.timezone = timezone
        self._label = f"{type(self).__name__} {self.Id!r}"
        self._zone = self._load_zone(timezone)
        fields = self._parse(expression)
        self._minutes, self._hours, self._days, self._months, self._weekdays = fields
        self._days_set = frozenset(self._days)
        self._weekdays_set = frozenset(self._weekdays)
        self._days_restricted = len(self._days) < 31
        self._weekdays_restricted = len(self._weekdays) < 7
        self._check_satisfiable()
        self._due: float | None = None

    # -- building ---------------------------------------------------------------------------

    def _load_zone(self, timezone: str) -> dt.tzinfo:
        if timezone == "UTC":
            return dt.UTC  # needs no tz database
        try:
            return zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ConfigError(f"{self._label}: unknown timezone {timezone!r}") from exc

    def _parse(self, expression: str) -> tuple[tuple[int, ...], ...]:
        if not isinstance(expression, str):
            raise ConfigError(f"{self._label}: cron expression must be a str, got {expression!r}")
        text = expression.strip()
        text = _MACROS.get(text.lower(), text)
        parts = text.split()
        if len(parts) != len(_FIELDS):
            raise ConfigError(
                f"{self._label}: cron expression {expression!r} has {len(parts)} fields, expected "
                f"5 (minute hour day-of-month month day-of-week)"
            )
        return tuple(
            self._parse_field(part, spec, expression)
            for part, spec in zip(parts, _FIELDS, strict=True)
        )

    def _parse_field(
        self, text: str, spec: tuple[str, int, int, Mapping[str, int]], expression: str
    ) -> tuple[int, ...]:
        name, lowest, highest, names = spec

        def bad(value: str) -> ConfigError:
            return ConfigError(
                f"{self._label}: bad {name} value {value!r} in cron expression {expression!r} "
                f"(allowed {lowest}-{highest}{', names' if names else ''}, *, lists, ranges, /step)"
            )

        def number(token: str, item: str) -> int:
            if token.isascii() and token.isdigit():
                value = int(token)
            elif token.lower() in names:
                value = names[token.lower()]
            else:
                raise bad(item)
            if not lowest <= value <= highest:
                raise bad(item)
            return value

        values: set[int] = set()
        for item in text.split(","):
            base, slash, step_text = item.partition("/")
            step = 1
            if slash:
                if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                    raise bad(item)
                step = int(step_text)
            if base == "*":
                first, last = lowest, highest
            elif "-" in base:
                first_text, _, last_text = base.partition("-")
                first, last = number(first_text, item), number(last_text, item)
                if first > last:
                    raise bad(item)
            else:
                first = number(base, item)
                last = highest if slash else first
            values.update(range(first, last + 1, step))
        if name == "day-of-week" and 7 in values:
            values.discard(7)
            values.add(0)
        return tuple(sorted(values))

    def _check_satisfiable(self) -> None:
        if self._weekdays_restricted:
            return  # every month has every weekday, and weekdays alone can make a day match
        if any(day <= _MAX_MONTH_DAYS[month - 1] for month in self._months for day in self._days):
            return
        raise ConfigError(
            f"{self._label}: cron expression {self.expression!r} never matches: no month in the "
            f"month field has any of the days in the day-of-month field"
        )

    # -- matching ---------------------------------------------------------------------------

    def _day_matches(self, day: dt.datetime) -> bool:
        in_days = day.day in self._days_set
        in_weekdays = (day.weekday() + 1) % 7 in self._weekdays_set  # cron counts from Sunday
        if self._days_restricted and self._weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def _next_local(self, t: dt.datetime, last_year: int) -> dt.datetime | None:
        """The first matching naive wall-clock minute >= ``t``, or None past ``last_year``."""
        one_day = dt.timedelta(days=1)
        while t.year <= last_year:
            if t.month not in self._months:
                month = _first_at_least(self._months, t.month + 1)
                if month is None:
                    t = dt.datetime(t.year + 1, self._months[0], 1)
                else:
                    t = dt.datetime(t.year, month, 1)
                continue
            if not self._day_matches(t):
                t = dt.datetime(t.year, t.month, t.day) + one_day
                continue
            if t.hour not in self._hours:
                hour = _first_at_least(self._hours, t.hour + 1)
                if hour is None:
                    t = dt.datetime(t.year, t.month, t.day) + one_day
                else:
                    t = t.replace(hour=hour, minute=0)
                continue
            if t.minute not in self._minutes:
                minute = _first_at_least(self._minutes, t.minute + 1)
                if minute is None:
                    t = t.replace(minute=0) + dt.timedelta(hours=1)
                else:
                    t = t.replace(minute=minute)
                continue
            return t
        return None

    def _next_match(self, after: float, inclusive: bool) -> float:
        """The first matching instant > ``after`` (>= when ``inclusive``), in seconds."""
        local = dt.datetime.fromtimestamp(after, self._zone).replace(
            tzinfo=None, second=0, microsecond=0, fold=0
        )
        last_year = min(local.year + _SEARCH_YEARS, dt.MAXYEAR - 1)
        t = local
        while True:
            found = self._next_local(t, last_year)
            if found is None:
                raise ConfigError(
                    f"{self._label}: cron expression {self.expression!r} does not match within "
                    f"{_SEARCH_YEARS} years of {local.isoformat()} ({self.timezone})"
                )
            # fold=0 takes the first occurrence of an ambiguous wall time; mapping every wall time
            # with fold=0 is monotonic, so the first wall-clock match past `after` is the earliest.
            at = found.replace(tzinfo=self._zone).timestamp()
            exists = dt.datetime.fromtimestamp(at, self._zone).replace(tzinfo=None) == found
            if exists and (at > after or (inclusive and at == after)):
                return at
            # A wall time skipped by DST, or (at `after`'s own minute, or in the second pass of a
            # repeated hour) one already behind us: look from the next minute on.
            t = found + dt.timedelta(minutes=1)

    # -- the trigger contract ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Schedule the first matching minute at or after ``now``.

        Raises:
            ConfigError: nothing matches within the search bound.
        """
        due = self._next_match(now, inclusive=True)  # may raise: then the trigger is not started
        super().start(now)
        self._due = due

    def next_fire_at(self) -> float | None:
        """The next matching minute in seconds since the epoch; None before ``start``."""
        return self._due

    def fire(self, now: float) -> None:
        """Schedule the first matching minute strictly after this firing.

        Raises:
            RuntimeError: the trigger was not started.
            ConfigError: nothing matches within the search bound.
        """
        if self._started_at is None or self._due is None:
            raise RuntimeError(f"{self!r} fired before start()")
        self._due = self._next_match(max(now, self._due), inclusive=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r} {self.expression!r} {self.timezone}>"
