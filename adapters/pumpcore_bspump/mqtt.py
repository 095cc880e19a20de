"""BSPump's ``bspump.mqtt``: ``pumpcore_mqtt`` with BSPump's signatures.

``MQTTConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``MQTTSource`` and
``MQTTSink`` take ``(app, pipeline, connection, id=None, config=None)`` with the connection's id,
located in the application's PumpService when the component is made (register the connection first,
as in BSPump).
"""

from __future__ import annotations

from ._later import needs

try:
    import pumpcore_mqtt as _a
    from pumpcore_mqtt import MQTTPublishError as MQTTPublishError
except ImportError as _exc:
    raise needs("mqtt", _exc) from None

from ._adapt import adapt_connected, adapt_connection

__all__ = (
    "MQTTConnection",
    "MQTTPublishError",
    "MQTTSink",
    "MQTTSource",
)

MQTTConnection = adapt_connection(_a.MQTTConnection, __name__)
MQTTSource = adapt_connected(_a.MQTTSource, __name__, _a.MQTTConnection)
MQTTSink = adapt_connected(_a.MQTTSink, __name__, _a.MQTTConnection)
