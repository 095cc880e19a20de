"""RabbitMQ / AMQP 0-9-1 on pika: a queue source acknowledging after the sinks flushed, a sink
with publisher confirms, a dead-letter sink, and the connection they share the settings of.

Each source and sink owns one pika connection on a thread of its own (pika's blocking
connection is not thread-safe, and the executors call adapters from any worker thread), which
reconnects with backoff when the broker goes away. Install with ``pip install "pumpcore[amqp]"``.
"""

from ._connection import AMQPConnection as AMQPConnection
from ._connection import AMQPLinkDown as AMQPLinkDown
from ._sink import AMQPDeadLetterSink as AMQPDeadLetterSink
from ._sink import AMQPPublishError as AMQPPublishError
from ._sink import AMQPSink as AMQPSink
from ._sink import AMQPSinkStatistics as AMQPSinkStatistics
from ._source import AMQPSource as AMQPSource
from ._source import AMQPSourceStatistics as AMQPSourceStatistics

__all__ = (
    "AMQPConnection",
    "AMQPDeadLetterSink",
    "AMQPLinkDown",
    "AMQPPublishError",
    "AMQPSink",
    "AMQPSinkStatistics",
    "AMQPSource",
    "AMQPSourceStatistics",
)
