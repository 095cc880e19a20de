"""HTTP client side on ``requests``: a polling source, a sink, and a lookup provider with ETags.
Server side and WebSocket on anyio, h11 and wsproto: a webhook source, a WebSocket server source
and a WebSocket client sink, running under every executor.

Install with ``pip install "pumpcore[http]"``.

Duplicates after a crash: the polling source has nothing to replay (the next trigger polls
again). The webhook answers 200 only after its event's commit, so a client re-sends what a
crash left unanswered: the requests in flight, at most ``queue_size`` plus the in-flight
window (``commit_every`` positions rounded up to whole batches, 1,024 with the defaults). The
WebSocket source has no acknowledgement: a crash loses what it read, never duplicates it. The
HTTP and WebSocket sinks send on flush, before their sources acknowledge, so the receiving
server sees again whatever the upstream source replays: at most its in-flight window.
"""

from ._client import HTTPClientError as HTTPClientError
from ._client import HTTPClientStatistics as HTTPClientStatistics
from ._lookup import HTTPLookupProvider as HTTPLookupProvider
from ._sink import HTTPClientSink as HTTPClientSink
from ._source import HTTPClientSource as HTTPClientSource
from ._webhook import HTTPServerSource as HTTPServerSource
from ._webhook import HTTPServerStatistics as HTTPServerStatistics
from ._websocket import WebSocketServerStatistics as WebSocketServerStatistics
from ._websocket import WebSocketSource as WebSocketSource
from ._websocket_sink import HTTPClientWebSocketSink as HTTPClientWebSocketSink
from ._websocket_sink import WebSocketClientError as WebSocketClientError
from ._websocket_sink import WebSocketClientStatistics as WebSocketClientStatistics

__all__ = (
    "HTTPClientError",
    "HTTPClientSink",
    "HTTPClientSource",
    "HTTPClientStatistics",
    "HTTPClientWebSocketSink",
    "HTTPLookupProvider",
    "HTTPServerSource",
    "HTTPServerStatistics",
    "WebSocketClientError",
    "WebSocketClientStatistics",
    "WebSocketServerStatistics",
    "WebSocketSource",
)
