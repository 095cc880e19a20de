"""BSPump's ``bspump.influxdb``: ``pumpcore_influxdb`` with BSPump's signatures.

``InfluxDBConnection(app, id=None, config=None)`` reads ``[connection:ID]``; ``InfluxDBSink`` take
``(app, pipeline, connection, id=None, config=None)`` with the connection's id, located in the
application's PumpService when the component is made (register the connection first, as in BSPump).
"""

from __future__ import annotations

from ._later import needs

try:
    import pumpcore_influxdb as _a
    from pumpcore_influxdb import InfluxDBError as InfluxDBError
    from pumpcore_influxdb import InfluxDBLineError as InfluxDBLineError
except ImportError as _exc:
    raise needs("influxdb", _exc) from None

from ._adapt import adapt_connected, adapt_connection

__all__ = (
    "InfluxDBConnection",
    "InfluxDBError",
    "InfluxDBLineError",
    "InfluxDBSink",
)

InfluxDBConnection = adapt_connection(_a.InfluxDBConnection, __name__)
InfluxDBSink = adapt_connected(_a.InfluxDBSink, __name__, _a.InfluxDBConnection)
