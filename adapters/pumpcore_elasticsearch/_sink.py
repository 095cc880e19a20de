"""ElasticSearchSink: events to Elasticsearch or OpenSearch through the bulk API.

It is a ``BlockingSink``: ``process`` runs on the executor's loop thread, so it only encodes the
event into a bulk item (a data feeder) and buffers it; ``flush`` runs in a worker thread and
sends. The executor acknowledges the sources' positions only after ``flush`` returned.

Rules:
1. ``flush`` sends everything buffered, per index in event order, in bulk requests of at most
   ``bulk_max_count`` items and ``bulk_max_bytes`` bytes. Nothing waits longer than the run's
   flush cadence (every ``commit_every`` events, and whenever the run is idle): a flush must
   leave nothing unsent, so that cadence is the age bound.
2. The bulk answer is read item by item (BSPump drops a whole bulk on a non-200 answer; a 200
   can still refuse some items). An item refused with 429 or a 5xx is sent again, alone with
   the other such items, after a chill-down that doubles (the connection's ``fail_chilldown``,
   ``max_chilldown`` and ``retries``). An item refused otherwise (a mapping conflict, a
   version conflict, a blocked index) is the document's fault: it is counted
   (``statistics().dead_lettered``) and handed to the sink's ``dead_letter`` sink as a soft
   ``Failure`` (logged at WARNING without one), and the dead-letter sink is flushed before
   ``flush`` returns.
3. A request refused whole with 400 or 413 (an unparsable line, a body too large) is split in
   halves and each sent again, down to the item at fault, which is dead-lettered as in rule 2.
4. When the cluster cannot be reached, or keeps refusing items retrying could help, after every
   retry, ``flush`` raises ``ElasticSearchError``: the run acknowledges nothing more from the
   sources feeding this sink (a restart replays), and the items not written stay buffered,
   first in line for the next flush. A dead-letter sink that raises makes ``flush`` raise too
   (that chunk's items are then left to the replay). Nothing is dropped silently.
5. An event that cannot be encoded (not JSON, no ``_id`` for an update, no time for a dated
   index) raises from ``process``: the pipeline's error policy and dead-letter sink handle it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import attrs

from pumpcore import BlockingSink, ConfigRule, Context, Failure, PumpError, Sink
from pumpcore.config import in_range, non_empty, one_of

from ._connection import ElasticSearchConnection, ElasticSearchError, retryable
from ._feeders import DataFeeder, data_feeder_create_or_index
from ._index import index_namer

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.elasticsearch")

# One buffered item: its index, its bulk lines, and the context and event it came from.
_Item = tuple[str, bytes, Context, Any]


class ElasticSearchItemError(PumpError):
    """The cluster refused one bulk item for a reason retrying cannot help (rule 2); what the
    dead-letter sink gets as the ``Failure``'s exception.

    Attributes:
        index: the item's index.
        status: the item's status code (400, 409…).
        error: the item's ``error`` object as the cluster sent it.
    """

    def __init__(self, message: str, *, index: str, status: int, error: Any) -> None:
        super().__init__(message)
        self.index = index
        self.status = status
        self.error = error


@attrs.frozen
class ElasticSearchSinkStatistics:
    """What an ``ElasticSearchSink`` did so far.

    Attributes:
        bulks: bulk requests answered.
        documents: items the cluster accepted.
        retried: items sent again after a 429 or 5xx.
        dead_lettered: items refused for good (rule 2).
        splits: requests refused whole and split (rule 3).
    """

    bulks: int
    documents: int
    retried: int
    dead_lettered: int
    splits: int


class _GiveUp(Exception):
    """A chunk could not be written after every retry; ``pending`` are its unwritten items."""

    def __init__(self, pending: list[_Item], error: ElasticSearchError) -> None:
        super().__init__(str(error))
        self.pending = pending
        self.error = error


class ElasticSearchSink(BlockingSink):
    """Writes events to an index through the bulk API, BSPump's ``ElasticSearchSink``.

    The index is the context's ``es_index`` when set (BSPump's override), else the ``index``
    config key, which may hold ``time.strftime`` patterns (``logs-%Y.%m.%d``) filled from the
    event's ``time_field`` (epoch seconds, ISO 8601 text or a datetime; UTC) or, without one,
    from the current time. How an event becomes a bulk item is its ``data_feeder``
    (``data_feeder_create_or_index`` by default, see ``pumpcore_elasticsearch``).

    Args:
        connection: the cluster to write to.
        data_feeder: the event → bulk item function.
        dead_letter: a sink of its own (not the pipeline's, which the pipelines' thread feeds)
            for the items the cluster refuses (rule 2); opened, flushed and closed by this sink.

    Config:
        index: the index name or pattern. Required.
        time_field: the event field whose time fills the index pattern ("": now).
        bulk_max_count: items per bulk request at most.
        bulk_max_bytes: bytes per bulk request at most (an item larger goes alone).
        refresh: the bulk ``refresh`` parameter: ``""`` (none), ``"true"`` or ``"wait_for"``.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "index": "",
        "time_field": "",
        "bulk_max_count": 2000,
        "bulk_max_bytes": 8 * 1024 * 1024,
        "refresh": "",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "index": non_empty(),
        "bulk_max_count": in_range(1, 100_000),
        "bulk_max_bytes": in_range(1024, 2**31),
        "refresh": one_of("", "true", "false", "wait_for"),
    }

    def __init__(
        self,
        connection: ElasticSearchConnection,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        data_feeder: DataFeeder = data_feeder_create_or_index,
        dead_letter: Sink | None = None,
    ) -> None:
        self.Connection = connection
        self.data_feeder = data_feeder
        self.dead_letter = dead_letter
        # Buffered items per index, in event order (an index's list is made when it first
        # comes, so most events append to the list the previous one went to).
        self._buffer: dict[str, list[_Item]] = {}
        self._count = self._bytes = 0
        self._n_bulks = self._n_docs = self._n_retried = self._n_dead = self._n_splits = 0
        self._dead_this_flush = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        pattern = str(config["index"])
        self._index_of = index_namer(pattern, str(config["time_field"]))
        self._fixed_index = None if "%" in pattern else pattern
        self._max_count = int(config["bulk_max_count"])
        self._max_bytes = int(config["bulk_max_bytes"])
        # Only what rule 2 reads: the answer shrinks from ~200 bytes an item to ~30.
        self._params = {"filter_path": "errors,items.*.status,items.*.error,items.*._id"}
        if config["refresh"]:
            self._params["refresh"] = str(config["refresh"])

    def statistics(self) -> ElasticSearchSinkStatistics:
        """A frozen snapshot of the counters."""
        return ElasticSearchSinkStatistics(
            self._n_bulks, self._n_docs, self._n_retried, self._n_dead, self._n_splits
        )

    def buffered(self) -> int:
        """Items waiting for the next flush."""
        return self._count

    def process(self, context: Context, event: Any) -> None:
        """Encode the event into a bulk item and buffer it (rule 5 for what raises)."""
        index = context.get("es_index") if context else None
        if index is None:
            index = self._fixed_index or self._index_of(event)
        lines = self.data_feeder(event)
        if not isinstance(lines, bytes):
            lines = b"".join(lines)
        group = self._buffer.get(index)
        if group is None:
            group = self._buffer[index] = []
        group.append((index, lines, context, event))
        self._count += 1
        self._bytes += len(lines)

    def open(self) -> None:
        """Open the dead-letter sink, if it has ``open``."""
        opener = getattr(self.dead_letter, "open", None)
        if opener is not None:
            opener()

    def flush(self) -> None:
        """Send everything buffered (rules 1-4); return once the cluster has every item or
        refused it for good (dead-lettered).

        Raises:
            ElasticSearchError: the cluster could not take some items after every retry; they
                stay buffered.
        """
        if not self._buffer:
            return
        order = list(self._buffer.values())
        whole = self._count <= self._max_count and self._bytes <= self._max_bytes
        self._buffer, self._count, self._bytes = {}, 0, 0
        self._dead_this_flush = 0
        try:
            for g, group in enumerate(order):
                chunks = [(0, len(group))] if whole else self._chunks(group)
                for start, end in chunks:
                    try:
                        self._write(group[start:end])
                    except _GiveUp as give_up:
                        self._keep([give_up.pending, group[end:], *order[g + 1 :]])
                        raise give_up.error from None
        finally:
            if self._dead_this_flush and self.dead_letter is not None:
                self.dead_letter.flush()

    def _keep(self, runs: list[list[_Item]]) -> None:
        """Buffer ``runs`` again, first in line for the next flush (rule 4)."""
        for run in runs:
            for item in run:
                self._buffer.setdefault(item[0], []).append(item)
                self._count += 1
                self._bytes += len(item[1])

    def _chunks(self, group: list[_Item]) -> list[tuple[int, int]]:
        """``(start, end)`` of the bulk requests for one index's items (rule 1)."""
        chunks, start, size = [], 0, 0
        for i, item in enumerate(group):
            n = len(item[1])
            if i > start and (i - start >= self._max_count or size + n > self._max_bytes):
                chunks.append((start, i))
                start, size = i, 0
            size += n
        chunks.append((start, len(group)))
        return chunks

    def _write(self, chunk: list[_Item]) -> None:
        """Send one bulk request's items until each is written or refused for good."""
        connection = self.Connection
        pending, attempt = chunk, 0
        path = f"/{quote(chunk[0][0], safe='')}/_bulk"
        while pending:
            try:
                _, answer = connection.request(
                    "POST",
                    path,
                    data=b"".join(item[1] for item in pending),
                    params=self._params,
                    content_type="application/x-ndjson",
                )
            except ElasticSearchError as exc:
                if exc.status not in (400, 413):
                    raise _GiveUp(pending, exc) from exc
                if len(pending) == 1:  # rule 3: this item is at fault
                    self._refuse(pending[0], exc.status, _error_of(exc.body))
                    return
                self._n_splits += 1
                half = len(pending) // 2
                self._write(pending[:half])
                self._write(pending[half:])
                return
            self._n_bulks += 1
            results = answer.get("items", []) if isinstance(answer, dict) else []
            if len(results) != len(pending):
                raise _GiveUp(
                    pending,
                    ElasticSearchError(
                        f"{self._owner()}: the bulk answer has {len(results)} items for "
                        f"{len(pending)} sent",
                        method="POST",
                        path=path,
                        attempts=attempt + 1,
                        status=None,
                    ),
                )
            if not answer.get("errors"):
                self._n_docs += len(pending)
                return
            again: list[_Item] = []
            last_status = 0
            for item, result in zip(pending, results, strict=True):
                outcome: Any = next(iter(result.values()), {}) if isinstance(result, dict) else {}
                error = outcome.get("error")
                if error is None:
                    self._n_docs += 1
                    continue
                status = int(outcome.get("status", 0))
                if retryable(status):
                    again.append(item)
                    last_status = status
                else:
                    self._refuse(item, status, error)
            if not again:
                return
            attempt += 1
            retries, delay = connection.retry_delay(attempt)
            if delay is None:
                raise _GiveUp(
                    again,
                    ElasticSearchError(
                        f"{self._owner()}: {len(again)} item(s) refused with status "
                        f"{last_status} after {attempt} attempt(s)",
                        method="POST",
                        path=path,
                        attempts=attempt,
                        status=last_status,
                    ),
                )
            self._n_retried += len(again)
            log.warning(
                "%s: %d item(s) refused with status %d, retry %d/%d in %.3g s",
                self._owner(), len(again), last_status, attempt, retries, delay,
            )  # fmt: skip
            time.sleep(delay)
            pending = again

    def _refuse(self, item: _Item, status: int, error: Any) -> None:
        """Rule 2: count the refused item and dead-letter it (or log it)."""
        index, _, context, event = item
        reason = error.get("reason") if isinstance(error, dict) else error
        kind = error.get("type") if isinstance(error, dict) else "error"
        exc = ElasticSearchItemError(
            f"{self._owner()}: index {index!r} refused an item (status {status}): {kind}: "
            f"{str(reason)[:500]}",
            index=index,
            status=status,
            error=error,
        )
        self._n_dead += 1
        if self.dead_letter is None:
            log.warning("%s (no dead-letter sink)", exc)
            return
        pipeline_id = self.Pipeline.Id if self.Pipeline is not None else ""
        self.dead_letter.process(context, Failure(pipeline_id, self.Id, context, event, exc, True))
        self._dead_this_flush += 1

    def _owner(self) -> str:
        return f"{type(self).__name__} {self.Id!r}"

    def close(self) -> None:
        """Close this thread's connections and the dead-letter sink. Items still buffered (the
        last flush failed) are not sent: they were never acknowledged."""
        self._buffer, self._count, self._bytes = {}, 0, 0
        self.Connection.close()
        closer = getattr(self.dead_letter, "close", None)
        if closer is not None:
            closer()


def _error_of(body: Any) -> Any:
    """The ``error`` of a whole-request refusal, for the dead-lettered item."""
    if isinstance(body, dict) and "error" in body:
        return body["error"]
    return {"type": "request_refused", "reason": str(body)[:500]}
