"""IteratorSource: a finite (or endless) iterator as a source, pulled in batches."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._component import Source

if TYPE_CHECKING:
    from .._pipeline import Pipeline as PipelineT


class IteratorSource(Source):
    """Feeds the events of an iterable into its pipeline, each with a fresh context.

    Events the pipeline did not take (a hard error stopped it mid-batch) are kept and offered
    again first once the pipeline recovers: nothing pulled from the iterator is lost.

    Example:
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> p = Pipeline("P")
        >>> p.build(IteratorSource(["a", "b"]), ListSink())
        >>> p.locate_source("IteratorSource").pump(100)
        2
    """

    def __init__(
        self,
        iterator: Iterable[Any],
        pipeline: PipelineT | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._iterator: Iterator[Any] = iter(iterator)
        self._pending: list[Any] = []
        self._exhausted = False

    def _fill(self, max_items: int) -> None:
        if len(self._pending) < max_items and not self._exhausted:
            more = list(itertools.islice(self._iterator, max_items - len(self._pending)))
            if len(more) < max_items - len(self._pending):
                self._exhausted = True
            if self._pending:
                self._pending.extend(more)
            else:
                self._pending = more

    def pump(self, max_items: int) -> int:
        """Pull up to ``max_items`` events and process them; return how many were taken."""
        if self.Pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        self._fill(max_items)
        batch = self._pending
        if not batch:
            return 0
        taken = self.Pipeline.process_events(batch)
        self._pending = batch[taken:] if taken < len(batch) else []
        return taken

    def has_pending(self) -> bool:
        """True until the iterator is exhausted and every pulled event was taken."""
        return bool(self._pending) or not self._exhausted

    def exhausted(self) -> bool:
        """True once every event of the iterator was taken by the pipeline."""
        return self._exhausted and not self._pending
