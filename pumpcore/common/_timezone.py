"""TimeZoneNormalizer: local wall-clock datetimes to UTC, the pipeline's internal form."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Processor
from .._errors import ConfigError

if TYPE_CHECKING:
    pass


class TimeZoneNormalizer(Processor):
    """Converts datetimes from a configured local time zone to naive UTC (BSPump's).

    Sources often stamp events with the local wall clock of the machine that wrote them; storing
    those next to UTC stamps silently shifts them by hours. ``normalize`` fixes one datetime;
    ``process`` normalises a datetime event, or the value under the ``field`` key of a mapping
    event. As in BSPump, subclasses may override ``process`` and call ``normalize`` themselves.

    Differences from BSPump, on purpose:
        - the result is *naive* UTC (BSPump returns an aware one), pumpcore's internal form;
        - zones come from the standard ``zoneinfo`` (BSPump uses pytz); an ambiguous local time
          (the hour repeated when DST ends) is read with ``fold=0``, its first, DST, occurrence;
        - the default zone is ``UTC`` (BSPump's is ``CET``).

    Config:
        timezone: an IANA zone name (default ``UTC``); an unknown name raises ConfigError.
        field: when not empty, normalise ``event[field]`` of a mapping event in place.

    Example:
        >>> n = TimeZoneNormalizer(config={"timezone": "Europe/Prague"})
        >>> n.normalize(datetime.datetime(2000, 12, 30, 23, 59, 59))
        datetime.datetime(2000, 12, 30, 22, 59, 59)
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"timezone": "UTC", "field": ""}

    TimeZoneSource: zoneinfo.ZoneInfo

    def apply_config(self) -> None:
        """Load the configured zone (an unknown one is a ConfigError at build time)."""
        name = str(self.Config["timezone"])
        try:
            # Reads the system's (or the tzdata package's) zone file once, at build time.
            self.TimeZoneSource = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'timezone' names an unknown "
                f"time zone {name!r}"
            ) from None

    def normalize(self, local_datetime: datetime.datetime) -> datetime.datetime:
        """Return ``local_datetime`` in UTC, as a naive datetime.

        Args:
            local_datetime: a naive datetime, read as wall-clock time in the configured zone;
                an aware one keeps its own zone and is only converted.

        Returns:
            The same instant in UTC, without ``tzinfo``.

        Raises:
            TypeError: ``local_datetime`` is not a datetime.
        """
        if not isinstance(local_datetime, datetime.datetime):
            raise TypeError(f"{self.Id}: expected a datetime, got {type(local_datetime).__name__}")
        if local_datetime.tzinfo is None:
            local_datetime = local_datetime.replace(tzinfo=self.TimeZoneSource)
        return local_datetime.astimezone(datetime.UTC).replace(tzinfo=None)

    def process(self, context: Context, event: Any) -> Any:
        """Normalise the event (a datetime) or, with ``field`` set, ``event[field]``.

        Returns:
            The normalised datetime, or the same mapping with its field replaced.

        Raises:
            TypeError: the event (or the field's value) is not a datetime, or the event is not a
                mutable mapping while ``field`` is set.
            KeyError: ``field`` is set and the event lacks it.
        """
        field = str(self.Config["field"])
        if not field:
            return self.normalize(event)
        if not isinstance(event, MutableMapping):
            raise TypeError(f"{self.Id}: expected a mutable mapping, got {type(event).__name__}")
        event[field] = self.normalize(event[field])
        return event
