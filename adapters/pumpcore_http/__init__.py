"""HTTP client side on ``requests``: a polling source, a sink, and a lookup provider with ETags.

Install with ``pip install "pumpcore[http]"``.
"""

from ._client import HTTPClientError as HTTPClientError
from ._client import HTTPClientStatistics as HTTPClientStatistics
from ._lookup import HTTPLookupProvider as HTTPLookupProvider
from ._sink import HTTPClientSink as HTTPClientSink
from ._source import HTTPClientSource as HTTPClientSource

__all__ = (
    "HTTPClientError",
    "HTTPClientSink",
    "HTTPClientSource",
    "HTTPClientStatistics",
    "HTTPLookupProvider",
)
