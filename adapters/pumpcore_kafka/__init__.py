"""Kafka on confluent-kafka: a consumer group source that commits offsets only after the sinks
wrote (at-least-once, rebalance-safe), a sink that confirms every delivery before a flush
returns, a key filter and a topic initializer, all sharing a ``KafkaConnection``.

Install with ``pip install "pumpcore[kafka]"``.
"""

from ._connection import KafkaConnection as KafkaConnection
from ._errors import KafkaDeliveryError as KafkaDeliveryError
from ._filter import KafkaKeyFilter as KafkaKeyFilter
from ._initializer import KafkaTopicInitializer as KafkaTopicInitializer
from ._sink import KafkaSink as KafkaSink
from ._sink import KafkaSinkStatistics as KafkaSinkStatistics
from ._source import KafkaSource as KafkaSource
from ._source import KafkaSourceStatistics as KafkaSourceStatistics

__all__ = (
    "KafkaConnection",
    "KafkaDeliveryError",
    "KafkaKeyFilter",
    "KafkaSink",
    "KafkaSinkStatistics",
    "KafkaSource",
    "KafkaSourceStatistics",
    "KafkaTopicInitializer",
)
