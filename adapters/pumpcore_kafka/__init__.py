"""Kafka on confluent-kafka: a consumer group source that commits offsets only after the sinks
wrote (at-least-once, rebalance-safe), a sink that confirms every delivery before a flush
returns, a dead-letter sink, a key filter and a topic initializer, all sharing a
``KafkaConnection``.

A message that does not decode is rejected (counted as ``event.rejected``) and handed to the
pipeline's dead-letter sink; ``pipeline.set_dead_letter(KafkaDeadLetterSink(config={"topic":
"orders.dead"}))`` writes it there as its raw bytes, with its key and headers and
``x-pumpcore-pipeline``, ``x-pumpcore-component`` and ``x-pumpcore-error`` headers (failed
events too, as JSON); its offset is committed only once the dead letter was confirmed.

A broker that goes away and comes back is reconnected to by the clients themselves: reads
resume where they were and a flush waits for its deliveries (librdkafka retries, up to
``flush_timeout``), so the run goes on. A flush or commit that gives up raises instead (nothing
after it is acknowledged), and a restart of the pump replays from the last commit.

Install with ``pip install "pumpcore[kafka]"``.
"""

from ._connection import KafkaConnection as KafkaConnection
from ._errors import KafkaDeliveryError as KafkaDeliveryError
from ._filter import KafkaKeyFilter as KafkaKeyFilter
from ._initializer import KafkaTopicInitializer as KafkaTopicInitializer
from ._sink import KafkaDeadLetterSink as KafkaDeadLetterSink
from ._sink import KafkaSink as KafkaSink
from ._sink import KafkaSinkStatistics as KafkaSinkStatistics
from ._source import KafkaSource as KafkaSource
from ._source import KafkaSourceStatistics as KafkaSourceStatistics

__all__ = (
    "KafkaConnection",
    "KafkaDeadLetterSink",
    "KafkaDeliveryError",
    "KafkaKeyFilter",
    "KafkaSink",
    "KafkaSinkStatistics",
    "KafkaSource",
    "KafkaSourceStatistics",
    "KafkaTopicInitializer",
)
