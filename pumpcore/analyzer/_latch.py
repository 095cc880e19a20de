"""LatchAnalyzer: keeps the latest events matching a query for inspection (BSPump's).

The latch keeps references for a person or an API to look at; it emits nothing, so it holds no
origins: the events themselves pass on and are acknowledged as usual.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context
from .._config import ConfigRule, at_least
from .._errors import ConfigError
from ._analyzer import Analyzer

if TYPE_CHECKING:
    from .._pipeline import Pipeline

Query = bool | Callable[[Any], bool]
"""True (latch every event), False (none), or a predicate over the event. BSPump took a
mongo-like query dict here; pass ``mongoquery.Query(q).match`` for that."""


class LatchAnalyzer(Analyzer):
    """The latest ``latch_max_size`` events the query selects, in ``self.Latch``.

    Config:
        latch_max_size: how many events to keep (default 50); 0 keeps every one.

    Args:
        query: see ``Query``; it may be replaced at run time (``self.Query``).
        inclusive: with a predicate, latch the events it rejects instead (BSPump's flag: an
            event is latched when ``query(event) != inclusive``).

    Example:
        >>> from pumpcore.testing import run_chain
        >>> latch = LatchAnalyzer(query=lambda e: e > 1, config={"latch_max_size": 2})
        >>> run_chain([latch], [1, 2, 3, 4])
        [1, 2, 3, 4]
        >>> list(latch.Latch)
        [3, 4]
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"latch_max_size": 50}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"latch_max_size": at_least(0)}

    Latch: deque[Any]

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        query: Query = True,
        analyze_on_clock: bool = False,
        inclusive: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(query, bool) and not callable(query):
            raise ConfigError(
                f"LatchAnalyzer {id!r}: query must be True, False or a predicate, got {query!r}"
            )
        self.Query = query
        self.Inclusive = inclusive
        super().__init__(pipeline, analyze_on_clock=analyze_on_clock, id=id, config=config)

    def apply_config(self) -> None:
        """Make the latch with its bound."""
        super().apply_config()
        size = int(self.Config["latch_max_size"])
        self.Latch = deque(getattr(self, "Latch", ()), maxlen=size or None)

    def predicate(self, context: Context, event: Any) -> bool:
        """True when the query selects the event."""
        query = self.Query
        if isinstance(query, bool):
            return query
        return bool(query(event)) != self.Inclusive

    def evaluate(self, context: Context, event: Any) -> None:
        """Latch the event (the oldest falls out when the latch is full)."""
        self.Latch.append(event)
