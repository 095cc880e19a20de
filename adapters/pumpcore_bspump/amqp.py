"""BSPump's ``bspump.amqp``: ``pumpcore_amqp`` with BSPump's signatures.

``AMQPConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``AMQPSource``,
``AMQPSink`` and ``AMQPDeadLetterSink`` take ``(app, pipeline, connection, id=None, config=None)``
with the connection's id, located in the application's PumpService when the component is made
(register the connection first, as in BSPump).
"""

from __future__ import annotations

from ._later import needs

try:
    import pumpcore_amqp as _a
    from pumpcore_amqp import AMQPLinkDown as AMQPLinkDown
    from pumpcore_amqp import AMQPPublishError as AMQPPublishError
except ImportError as _exc:
    raise needs("amqp", _exc) from None

from ._adapt import adapt_connected, adapt_connection

__all__ = (
    "AMQPConnection",
    "AMQPDeadLetterSink",
    "AMQPLinkDown",
    "AMQPPublishError",
    "AMQPSink",
    "AMQPSource",
)

AMQPConnection = adapt_connection(_a.AMQPConnection, __name__)
AMQPSource = adapt_connected(_a.AMQPSource, __name__, _a.AMQPConnection)
AMQPSink = adapt_connected(_a.AMQPSink, __name__, _a.AMQPConnection)
AMQPDeadLetterSink = adapt_connected(_a.AMQPDeadLetterSink, __name__, _a.AMQPConnection)
