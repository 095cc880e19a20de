"""NATS JetStream on nats-py: a durable pull-consumer source acknowledging after the sinks
flushed, and a sink whose flush returns once JetStream stored every message.

nats-py runs on asyncio; each source and sink runs it on an asyncio loop in a thread of its own
behind the blocking adapter contract, so they work under every executor (trio included).
Install with ``pip install "pumpcore[nats]"``.
"""

from ._connection import NATSConnection as NATSConnection
from ._sink import NATSPublishError as NATSPublishError
from ._sink import NATSSink as NATSSink
from ._sink import NATSSinkStatistics as NATSSinkStatistics
from ._source import NATSSource as NATSSource
from ._source import NATSSourceStatistics as NATSSourceStatistics

__all__ = (
    "NATSConnection",
    "NATSPublishError",
    "NATSSink",
    "NATSSinkStatistics",
    "NATSSource",
    "NATSSourceStatistics",
)
