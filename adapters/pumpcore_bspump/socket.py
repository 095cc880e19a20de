"""BSPump's ``bspump.socket``: ``pumpcore_socket``'s components with BSPump's signatures."""

import pumpcore_socket as _socket

from ._adapt import adapt

TCPSource = adapt(_socket.TCPSource, __name__)
StreamServerSource = adapt(_socket.StreamServerSource, __name__)
StreamClientSink = adapt(_socket.StreamClientSink, __name__)
DatagramSource = adapt(_socket.DatagramSource, __name__)
DatagramSink = adapt(_socket.DatagramSink, __name__)

__all__ = ("DatagramSink", "DatagramSource", "StreamClientSink", "StreamServerSource", "TCPSource")
