"""What the server sources share: the bounded queue between ``serve`` and ``read``.

Rules:
1. ``serve`` (connections, datagram sockets) puts events into a bounded anyio memory object
   stream; ``read`` takes them out. Nothing on the ``serve`` side touches the pipeline: under the
   sync and threads executors it runs on the bridge's event loop thread while the pipeline is
   driven from another thread. So bad input (a line that does not decode, one over the length
   limit) goes into the same queue as a ``Rejected``, and reaches the pipeline through ``read``
   like any event: the pipeline counts it (``event.rejected``) and dead-letters it. The source's
   ``statistics()`` count it too, by kind.
2. When the queue is full, putting waits: a connection then stops reading its socket, so TCP
   pushes back on the client (a datagram socket stops being read and the kernel drops what its
   buffer cannot hold). The executor reads only while the pipeline is ready and its buffer runs
   low, so a throttled pipeline leaves the queue full and the server holds at most
   ``queue_max_size`` events, plus up to one received chunk per connection.
3. ``read`` waits at most ``poll_interval`` for the first event, because a stop waits for a read
   in progress (and the sync executor's thread is held meanwhile); then it takes what is there.
4. Everything runs on one event loop (the executor's, or the bridge's loop thread), so counters
   are plain ints; other threads only read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from pumpcore import AsyncSource, ConfigRule, Received
from pumpcore.config import in_range
from pumpcore.lowlevel import Rejected

from ._limits import BUDGET_DEFAULTS, BUDGET_RULES, Budget

if TYPE_CHECKING:
    from pumpcore import Pipeline


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
        # Each queued item with its size in bytes (what ``read`` gives back to the budget).
        self._send: MemoryObjectSendStream[tuple[Received | Rejected, int]] | None = None
        self._receive: MemoryObjectReceiveStream[tuple[Received | Rejected, int]] | None = None
        self._buffered_max = 0
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
        send, receive = anyio.create_memory_object_stream[tuple[Received | Rejected, int]](
            int(self.Config["queue_max_size"])
        )
        self._send, self._receive = send, receive
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))
        self.queued_bytes = 0

    async def _close_queue(self) -> None:
        for stream in (self._send, self._receive):
            if stream is not None:
                await stream.aclose()
        self._send = self._receive = None

    async def _put(self, item: Received | Rejected, size: int) -> None:
        """Queue one event (or bad input) of ``size`` bytes, waiting while the queue or the
        byte budget is full (rule 2)."""
        await self._put_all([(item, size)], size)

    async def _put_all(self, pairs: Sequence[tuple[Received | Rejected, int]], total: int) -> None:
        """Queue events (or bad input) with their sizes, ``total`` bytes in all, in order,
        waiting while the queue or the byte budget is full (rule 2). Taking the budget once
        and sending without a checkpoint while the queue has room keeps a received chunk's
        lines one step of the loop, not one each."""
        send = self._send
        assert send is not None, "serve() runs only after open()"
        await self.budget.take(total)
        sent = 0
        try:
            for pair in pairs:
                try:
                    send.send_nowait(pair)
                except anyio.WouldBlock:
                    self._buffered_max = max(self._buffered_max, self._used())
                    await send.send(pair)
                sent += pair[1]
                self.queued_bytes += pair[1]
                self.queued_events += type(pair[0]) is Received
        except BaseException:
            self.budget.give_back(total - sent)
            raise
        self._buffered_max = max(self._buffered_max, self._used())

    def put_nowait(self, item: Received | Rejected, size: int) -> None:
        """Queue ``item``, whose ``size`` bytes the caller took from the budget, without
        waiting (given back by ``read``).

        Raises:
            anyio.WouldBlock: the queue is full (nothing was queued).
        """
        if self._send is None:
            raise RuntimeError(f"{self.owner} is not open")
        self._send.send_nowait((item, size))
        self.queued_bytes += size
        self.queued_events += type(item) is Received
        self._buffered_max = max(self._buffered_max, self._used())

    def _used(self) -> int:
        send = self._send
        return 0 if send is None else send.statistics().current_buffer_used

    def _buffered(self) -> tuple[int, int]:
        """Events in the queue now, and the most there ever were (callable from any thread)."""
        send = self._send
        if send is None:
            return 0, self._buffered_max
        return send.statistics().current_buffer_used, self._buffered_max

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        """Up to ``max_items`` queued events; ``[]`` when none came within ``poll_interval``."""
        receive = self._receive
        if receive is None:
            return []
        pairs: list[tuple[Received | Rejected, int]] = []
        with anyio.move_on_after(float(self.Config["poll_interval"])):
            pairs.append(await receive.receive())
        try:
            while len(pairs) < max_items:
                pairs.append(receive.receive_nowait())
        except anyio.WouldBlock:
            pass
        if not pairs:
            return []
        size = sum(size for _, size in pairs)
        self.queued_bytes -= size
        self.budget.give_back(size)
        return [item for item, _ in pairs]
