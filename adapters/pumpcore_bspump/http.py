"""BSPump's ``bspump.http``: ``pumpcore_http``'s components with BSPump's signatures."""

import pumpcore_http as _http
from pumpcore_http import HTTPClientError as HTTPClientError
from pumpcore_http import HTTPLookupProvider as HTTPLookupProvider

from ._adapt import adapt

HTTPClientSource = adapt(_http.HTTPClientSource, __name__)
HTTPClientSink = adapt(_http.HTTPClientSink, __name__)
HTTPServerSource = adapt(_http.HTTPServerSource, __name__)
WebSocketSource = adapt(_http.WebSocketSource, __name__)
HTTPClientWebSocketSink = adapt(_http.HTTPClientWebSocketSink, __name__)

__all__ = (
    "HTTPClientError",
    "HTTPClientSink",
    "HTTPClientSource",
    "HTTPClientWebSocketSink",
    "HTTPLookupProvider",
    "HTTPServerSource",
    "WebSocketSource",
)
