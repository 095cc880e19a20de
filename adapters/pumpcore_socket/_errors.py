"""The adapter's one error: a socket that could not be bound, connected or written."""

from __future__ import annotations

from pumpcore import PumpError


class SocketError(PumpError, OSError):
    """A socket could not be bound, connected to or written to; the message names the
    component and the address. An ``OSError`` too, so code that handles socket failures in
    general catches it.

    Raised from ``open`` (a server that cannot listen: the run fails at start) and from a sink's
    ``flush`` (data that could not be handed to the operating system after the retries; it stays
    buffered, and the executor reports the failure through the pipeline's error policy).
    """
