"""BSPump's ``bspump.nats``: ``pumpcore_nats`` with BSPump's signatures.

``NATSConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``NATSSource`` and
``NATSSink`` take ``(app, pipeline, connection, id=None, config=None)`` with the connection's id,
located in the application's PumpService when the component is made (register the connection first,
as in BSPump). BSPump's NATS was core NATS; this is JetStream (a durable consumer acknowledges only
what the sinks wrote): the source needs ``stream`` and ``durable``.
"""

from __future__ import annotations

from ._later import needs

try:
    import pumpcore_nats as _a
    from pumpcore_nats import NATSPublishError as NATSPublishError
except ImportError as _exc:
    raise needs("nats", _exc) from None

from ._adapt import adapt_connected, adapt_connection

__all__ = (
    "NATSConnection",
    "NATSPublishError",
    "NATSSink",
    "NATSSource",
)

NATSConnection = adapt_connection(_a.NATSConnection, __name__)
NATSSource = adapt_connected(_a.NATSSource, __name__, _a.NATSConnection)
NATSSink = adapt_connected(_a.NATSSink, __name__, _a.NATSConnection)
