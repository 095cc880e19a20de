"""MQTT 3.1.1 on paho-mqtt 2: a QoS 1 source in a persistent session that acknowledges each
message only after the sinks flushed it, and a QoS 1 sink whose flush waits for every PUBACK.

paho runs its own network thread and reconnects by itself; the adapters call its thread-safe
``publish``/``ack`` from the executor's worker threads, so they run under every executor.
Install with ``pip install "pumpcore[mqtt]"``.
"""

from ._connection import MQTTConnection as MQTTConnection
from ._sink import MQTTPublishError as MQTTPublishError
from ._sink import MQTTSink as MQTTSink
from ._sink import MQTTSinkStatistics as MQTTSinkStatistics
from ._source import MQTTSource as MQTTSource
from ._source import MQTTSourceStatistics as MQTTSourceStatistics

__all__ = (
    "MQTTConnection",
    "MQTTPublishError",
    "MQTTSink",
    "MQTTSinkStatistics",
    "MQTTSource",
    "MQTTSourceStatistics",
)
