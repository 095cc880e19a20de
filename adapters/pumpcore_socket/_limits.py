"""What bounds a server's resources, shared by every server source (TCP/TLS/Unix lines, UDP, the
HTTP webhook and the WebSocket server): a connection cap, an idle timeout, and a budget of bytes
held for the pipeline.

Rules:
1. ``max_connections`` connections are served at once; one more is accepted and closed at once
   (the client sees its connection end, not a hang) and counted (``connections_refused``).
   Slow clients cannot keep the slots for ever: see rule 2.
2. A connection that sends nothing for ``idle_timeout`` seconds is closed and counted
   (``timeouts``); protocols with heads and bodies bound those too (HTTP's ``request_timeout``,
   WebSocket's ``handshake_timeout``). A connection waiting for room in the budget (rule 3) is
   not idle: the server is the one that waits.
3. Every byte received and held for the pipeline (a line or a message queued, a request body
   being read or queued) is taken from one budget of ``max_buffered_bytes`` per source and given
   back once ``read`` hands it over (or the connection drops it). A connection that needs room
   waits for it without reading its socket, so TCP pushes back on its client; a protocol that
   can answer (HTTP) may refuse instead. An item bigger than the whole budget is let in alone
   when nothing else is held, so one over-large line or body never blocks for ever. So the
   memory a source holds is at most ``max_buffered_bytes`` plus one receive per connection.
4. Everything here runs on the server's one event loop; other threads only read the counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from pumpcore import ConfigRule
from pumpcore.config import in_range, positive

#: The budget's key (every server source), with its default.
BUDGET_DEFAULTS: Mapping[str, Any] = {"max_buffered_bytes": 64 * 2**20}
BUDGET_RULES: Mapping[str, ConfigRule] = {"max_buffered_bytes": in_range(1, 2**30)}  # 1 GiB
#: The keys of servers with connections (not UDP), with their defaults.
CONNECTION_DEFAULTS: Mapping[str, Any] = {"max_connections": 1024, "idle_timeout": 60.0}
CONNECTION_RULES: Mapping[str, ConfigRule] = {
    # Each connection is a file descriptor and a task: a million is more than a process opens.
    "max_connections": in_range(1, 2**20),
    "idle_timeout": positive(),
}


class Budget:
    """Bytes a server holds for its pipeline, bounded (rule 3).

    Example:
        >>> budget = Budget(10)
        >>> budget.try_take(8), budget.try_take(8), budget.held
        (True, False, 8)
        >>> budget.give_back(8); budget.held, budget.peak
        (0, 8)
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._room: anyio.Event | None = None

    def _fits(self, size: int) -> bool:
        return self.held + size <= self.limit or self.held == 0

    def try_take(self, size: int) -> bool:
        """Take ``size`` bytes if they fit now; False (nothing taken) when they do not."""
        if not self._fits(size):
            return False
        self._take(size)
        return True

    async def take(self, size: int) -> None:
        """Take ``size`` bytes, waiting for room (the caller stops reading meanwhile)."""
        while not self._fits(size):
            await self.given_back()
        self._take(size)

    async def given_back(self) -> None:
        """Wait until some bytes are given back."""
        if self._room is None:
            self._room = anyio.Event()
        await self._room.wait()

    def _take(self, size: int) -> None:
        self.held += size
        if self.held > self.peak:
            self.peak = self.held

    def give_back(self, size: int) -> None:
        """Return ``size`` bytes taken earlier, waking whoever waits for room."""
        self.held -= size
        if self._room is not None:
            self._room.set()
            self._room = None


class ConnectionSlots:
    """The connection cap (rule 1): how many are open, and how many were refused.

    Example:
        >>> slots = ConnectionSlots(1)
        >>> slots.enter(), slots.enter(), slots.open, slots.refused
        (True, False, 1, 1)
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0

    def enter(self) -> bool:
        """Take a slot for a new connection; False (counted) when every slot is taken."""
        if self.open >= self.limit:
            self.refused += 1
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        """A connection ended."""
        self.open -= 1
