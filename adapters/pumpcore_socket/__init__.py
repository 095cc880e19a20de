"""Sockets: a line server (TCP, TLS, Unix), a line client sink, and UDP datagrams, on anyio.

``StreamServerSource`` (``TCPSource`` with BSPump's older ``host``/``port`` keys) turns each line
a client sends into an event; ``StreamClientSink`` writes events as lines to a server;
``DatagramSource`` and ``DatagramSink`` do the same with one datagram per event. Written on
anyio, they run under every executor (sync and threads through the executors' bridge loop).

Install with ``pip install "pumpcore[socket]"``.

Duplicates after a crash: the server and datagram sources carry no positions (TCP and UDP
replay nothing), so a crash loses what they had read and never duplicates it. The client and
datagram sinks write on flush, before the sources acknowledge, so the server gets again whatever
the upstream source replays: at most that source's in-flight window (``commit_every`` positions
rounded up to whole batches, 1,024 with the defaults).
"""

from ._client import StreamClientSink as StreamClientSink
from ._client import StreamClientSinkStatistics as StreamClientSinkStatistics
from ._datagram import DatagramSink as DatagramSink
from ._datagram import DatagramSinkStatistics as DatagramSinkStatistics
from ._datagram import DatagramSource as DatagramSource
from ._datagram import DatagramSourceStatistics as DatagramSourceStatistics
from ._errors import SocketError as SocketError
from ._server import StreamServerSource as StreamServerSource
from ._server import StreamServerStatistics as StreamServerStatistics
from ._server import TCPSource as TCPSource

__all__ = (
    "DatagramSink",
    "DatagramSinkStatistics",
    "DatagramSource",
    "DatagramSourceStatistics",
    "SocketError",
    "StreamClientSink",
    "StreamClientSinkStatistics",
    "StreamServerSource",
    "StreamServerStatistics",
    "TCPSource",
)
