"""InfluxDB 1.x over its HTTP API (``requests``): a sink writing line protocol in batches,
retrying what the server could not take and dead-lettering the lines it refuses.

Install with ``pip install "pumpcore[influxdb]"``.
"""

from ._connection import InfluxDBConnection as InfluxDBConnection
from ._connection import InfluxDBConnectionStatistics as InfluxDBConnectionStatistics
from ._connection import InfluxDBError as InfluxDBError
from ._line_protocol import Point as Point
from ._line_protocol import encode_point as encode_point
from ._line_protocol import parse_line as parse_line
from ._sink import InfluxDBLineError as InfluxDBLineError
from ._sink import InfluxDBSink as InfluxDBSink
from ._sink import InfluxDBSinkStatistics as InfluxDBSinkStatistics

__all__ = (
    "InfluxDBConnection",
    "InfluxDBConnectionStatistics",
    "InfluxDBError",
    "InfluxDBLineError",
    "InfluxDBSink",
    "InfluxDBSinkStatistics",
    "Point",
    "encode_point",
    "parse_line",
)
