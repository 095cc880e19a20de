"""HexlifyProcessor: binary events as hexadecimal, for logs and text protocols."""

from __future__ import annotations

import binascii
from typing import Any

from .._component import Context, Processor


class HexlifyProcessor(Processor):
    """Turns a bytes-like event into its hexadecimal representation, as ``bytes`` (BSPump's).

    Example:
        >>> HexlifyProcessor().process({}, b"\\x124Vx")
        b'12345678'
    """

    def process(self, context: Context, event: Any) -> bytes:
        """Return ``binascii.hexlify(event)``: two lowercase hex digits per byte.

        Raises:
            TypeError: the event is not bytes-like (a ``str`` must be encoded first).
        """
        return binascii.hexlify(event)
