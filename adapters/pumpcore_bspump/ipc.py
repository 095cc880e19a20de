"""BSPump's ``bspump.ipc`` (stream and datagram sockets): the same classes as ``bspump.socket``."""

from .socket import DatagramSink as DatagramSink
from .socket import DatagramSource as DatagramSource
from .socket import StreamClientSink as StreamClientSink
from .socket import StreamServerSource as StreamServerSource

__all__ = ("DatagramSink", "DatagramSource", "StreamClientSink", "StreamServerSource")
