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

from collections import deque
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
        self._send: MemoryObjectSendStream[Received | Rejected] | None = None
        self._receive: MemoryObjectReceiveStream[Received | Rejected] | None = None
        self._buffered_max = 0
        self._sizes: deque[int] = deque()  # bytes of each queued item, in queue order
        super().__init__(pipeline, id, config)
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))

    @property
    def owner(self) -> str:
        """``ClassName 'id'``, how error messages name this component."""
        return f"{type(self).__name__} {self.Id!r}"

    def _open_queue(self) -> None:
        send, receive = anyio.create_memory_object_stream[Received | Rejected](
            int(self.Config["queue_max_size"])
        )
        self._send, self._receive = send, receive
        self.budget = Budget(int(self.Config["max_buffered_bytes"]))
        self._sizes.clear()

    async def _close_queue(self) -> None:
        for stream in (self._send, self._receive):
            if stream is not None:
                await stream.aclose()
        self._send = self._receive = None

    async def _put(self, item: Received | Rejected, size: int) -> None:
        """Queue one event (or bad input) of ``size`` bytes, waiting while the queue or the
        byte budget is full (rule 2)."""
        assert self._send is not None, "serve() runs only after open()"
        await self.budget.take(size)
        try:
            await self._send.send(item)
        except BaseException:
            self.budget.give_back(size)
            raise
        self._sizes.append(size)
        used = self._send.statistics().current_buffer_used
        if used > self._buffered_max:
            self._buffered_max = used

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
        items: list[Received | Rejected] = []
        with anyio.move_on_after(float(self.Config["poll_interval"])):
            items.append(await receive.receive())
        try:
            while len(items) < max_items:
                items.append(receive.receive_nowait())
        except anyio.WouldBlock:
            pass
        if items:
            sizes = self._sizes
            self.budget.give_back(sum(sizes.popleft() for _ in items))
        return items
