"""What the server sources share: the bounded queue between ``serve`` and ``read``.

Rules:
1. ``serve`` (connections, datagram sockets) puts events into a bounded queue; ``read`` takes
   them out. Nothing on the ``serve`` side touches the pipeline: under the sync and threads
   executors it runs on the bridge's event loop thread while the pipeline is driven from
   another thread. So bad input (a line that does not decode, one over the length limit) goes
   into the same queue as a ``Rejected``, and reaches the pipeline through ``read`` like any
   event: the pipeline counts it (``event.rejected``) and dead-letters it. The source's
   ``statistics()`` count it too, by kind.
2. When the queue is full, putting waits: a connection then stops reading its socket, so TCP
   pushes back on the client (a datagram socket stops being read and the kernel drops what its
   buffer cannot hold). The executor reads only while the pipeline is ready and its buffer runs
   low, so a throttled pipeline leaves the queue full and the server holds at most
   ``queue_max_size`` events, plus up to one received chunk per connection. Their bytes are
   bounded too (``max_buffered_bytes``, ``_limits.py`` rule 3): a queue of long lines fills the
   budget before it fills its slots.
3. A received chunk's events are queued together: the budget is taken once and the queue
   extended in one call while it has room (a plain ``deque``: anyio's memory streams cost a
   checkpoint and their bookkeeping per item, the most of a line server's time per line).
4. ``read`` waits at most ``poll_interval`` for the first event, because a stop waits for a read
   in progress (and the sync executor's thread is held meanwhile); then it takes what is there.
5. Everything runs on one event loop (the executor's, or the bridge's loop thread), so the
   queue and the counters need no lock; other threads only read the counters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

from pumpcore import AsyncSource, ConfigRule, Received
from pumpcore.config import in_range
from pumpcore.lowlevel import Rejected

from ._limits import BUDGET_DEFAULTS, BUDGET_RULES, Budget

if TYPE_CHECKING:
    from pumpcore import Pipeline

Item = tuple[Received | Rejected, int]  # an event (or bad input) with its size in bytes


class QueuedSource(AsyncSource):
    """An ``AsyncSource`` whose ``serve`` fills a bounded queue that ``read`` drains.

    A server serves many clients: an event of theirs that fails in a processor is that input's
    failure (``isolate_failures``), never the end of the service.
    """

    isolate_failures = True

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "queue_max_size": 1000,
        **BUDGET_DEFAULTS,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "queue_max_size": in_range(1, 2**20),
        **BUDGET_RULES,
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._queue: deque[Item] = deque()
        self._open = False
        self._capacity = 0
        self._buffered_max = 0
        self._taken: anyio.Event | None = None  # set by read: room in the queue
        self._filled: anyio.Event | None = None  # set by a put: something to read
        #: Events (not bad input) queued so far.
        self.queued_events = 0
        #: Bytes of the items in the queue now (the rest of the budget is held by connections).
        self.queued_bytes = 0
        super().__init__(pipeline, id, config)
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))

    @property
    def owner(self) -> str:
        """``ClassName 'id'``, how error messages name this component."""
        return f"{type(self).__name__} {self.Id!r}"

    def _open_queue(self) -> None:
        self._queue.clear()
        self._open = True
        self._capacity = int(self.Config["queue_max_size"])
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))
        self.queued_bytes = 0

    async def _close_queue(self) -> None:
        self._open = False
        self._queue.clear()

    async def _put(self, item: Received | Rejected, size: int) -> None:
        """Queue one event (or bad input) of ``size`` bytes, waiting while the queue or the
        byte budget is full (rule 2)."""
        await self._put_all([(item, size)], size)

    async def _put_all(self, items: Sequence[Item], total: int) -> None:
        """Queue events (or bad input) with their sizes, in order, taking ``total`` bytes from
        the budget first (the sizes are what ``read`` gives back), waiting while the queue or
        the budget is full (rules 2 and 3)."""
        assert self._open, "serve() runs only after open()"
        await self.budget.take(total)
        queue, done = self._queue, 0
        try:
            while done < len(items):
                room = self._capacity - len(queue)
                if room <= 0:
                    if self._taken is None:
                        self._taken = anyio.Event()
                    await self._taken.wait()
                    continue
                batch = items[done : done + room]
                queue.extend(batch)
                done += len(batch)
                self._queued(batch)
        except BaseException:
            self.budget.give_back(total - sum(size for _, size in items[:done]))
            raise

    def put_nowait(self, item: Received | Rejected, size: int) -> None:
        """Queue ``item``, whose ``size`` bytes the caller took from the budget, without
        waiting (given back by ``read``).

        Raises:
            anyio.WouldBlock: the queue is full (nothing was queued).
        """
        if not self._open:
            raise RuntimeError(f"{self.owner} is not open")
        if len(self._queue) >= self._capacity:
            raise anyio.WouldBlock
        self._queue.append((item, size))
        self._queued(((item, size),))

    def _queued(self, items: Sequence[Item]) -> None:
        self.queued_bytes += sum(size for _, size in items)
        self.queued_events += sum(type(item) is Received for item, _ in items)
        self._buffered_max = max(self._buffered_max, len(self._queue))
        if self._filled is not None:
            self._filled.set()
            self._filled = None

    def _buffered(self) -> tuple[int, int]:
        """Events in the queue now, and the most there ever were (callable from any thread)."""
        return len(self._queue), self._buffered_max

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        """Up to ``max_items`` queued events; ``[]`` when none came within ``poll_interval``."""
        queue = self._queue
        if not queue and self._open:
            self._filled = filled = anyio.Event()
            with anyio.move_on_after(float(self.Config["poll_interval"])):
                await filled.wait()
        n = min(max_items, len(queue))
        if not n:
            return []
        taken = [queue.popleft() for _ in range(n)]
        size = sum(size for _, size in taken)
        self.queued_bytes -= size
        self.budget.give_back(size)
        if self._taken is not None:
            self._taken.set()
            self._taken = None
        return [item for item, _ in taken]
