"""Parsers between text and bytes: StringToBytesParser and BytesToStringParser (BSPump's)."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Processor
from .._errors import ConfigError

if TYPE_CHECKING:
    pass


class _EncodingProcessor(Processor):
    """Reads and checks the ``encoding`` key, so an unknown codec fails at build time."""

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"encoding": "utf-8"}

    Encoding: str

    def apply_config(self) -> None:
        """Check ``encoding`` names a codec Python knows."""
        encoding = str(self.Config["encoding"])
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'encoding' names an unknown "
                f"codec {encoding!r}"
            ) from None
        self.Encoding = encoding


class StringToBytesParser(_EncodingProcessor):
    """Encodes ``str`` events to ``bytes``, for sinks and protocols that speak bytes.

    Config:
        encoding: the codec (default ``utf-8``).

    Example:
        >>> StringToBytesParser().process({}, "žluť")
        b'\\xc5\\xbelu\\xc5\\xa5'
    """

    def process(self, context: Context, event: Any) -> bytes:
        """Return the event encoded.

        Raises:
            TypeError: the event is not a ``str`` (BSPump asserts; an assert vanishes under -O).
            UnicodeEncodeError: the text cannot be represented in the encoding.
        """
        if not isinstance(event, str):
            raise TypeError(f"{self.Id}: expected str, got {type(event).__name__}")
        return event.encode(self.Encoding)


class BytesToStringParser(_EncodingProcessor):
    """Decodes ``bytes`` events to ``str``, as most parsers downstream want text.

    Config:
        encoding: the codec (default ``utf-8``).

    Example:
        >>> BytesToStringParser().process({}, b"abc")
        'abc'
    """

    def process(self, context: Context, event: Any) -> str:
        """Return the event decoded.

        Raises:
            TypeError: the event is not bytes-like (``bytes``, ``bytearray`` or ``memoryview``).
            UnicodeDecodeError: the bytes are not valid in the encoding.
        """
        if not isinstance(event, bytes | bytearray | memoryview):
            raise TypeError(f"{self.Id}: expected bytes, got {type(event).__name__}")
        return bytes(event).decode(self.Encoding)
