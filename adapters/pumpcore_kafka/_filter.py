"""KafkaKeyFilter: keeps only events whose message key is one of a set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pumpcore import Context, Processor

if TYPE_CHECKING:
    from pumpcore import Pipeline


class KafkaKeyFilter(Processor):
    """Drops events whose context ``kafka_key`` (set by ``KafkaSource``) is not in ``keys``
    (BSPump's ``KafkaKeyFilter``); dropped events are counted as the pipeline's drops.

    Args:
        keys: the keys to keep, as bytes (a ``str`` is taken as its UTF-8 bytes).

    Example:
        >>> f = KafkaKeyFilter(keys=[b"a", "b"])
        >>> f.process({"kafka_key": b"b"}, 1), f.process({"kafka_key": b"c"}, 2)
        (1, None)
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        keys: Iterable[bytes | str] = (),
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        #: The keys kept.
        self.Keys = frozenset(k.encode() if isinstance(k, str) else bytes(k) for k in keys)

    def process(self, context: Context, event: Any) -> Any:
        """The event when its key is kept, None (dropped) otherwise."""
        return event if context.get("kafka_key") in self.Keys else None
