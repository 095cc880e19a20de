"""The payload codec the message adapters share: an event as the bytes of a message, and back.

Encoding: ``bytes``, ``bytearray`` and ``memoryview`` go as they are (as ``bytes``), ``str`` as
UTF-8, anything else as JSON (orjson: compact UTF-8). Decoding follows a source's ``decode`` key,
one of ``PAYLOAD_DECODINGS``: ``bytes`` (as it came), ``text`` (in an encoding) or ``json``.
Pure: no I/O; adapters call these from their overridable ``encode``/``decode`` methods.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

#: The values a source's ``decode`` key may take (``one_of(*PAYLOAD_DECODINGS)``).
PAYLOAD_DECODINGS: Final = ("bytes", "text", "json")

#: The content type ``encode_typed_payload`` gives text and JSON (bytes get None: unset).
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
JSON_CONTENT_TYPE: Final = "application/json"


def encode_typed_payload(event: Any) -> tuple[bytes, str | None]:
    """The payload for ``event`` and its content type (None for bytes: leave it unset).

    Raises:
        TypeError: the event cannot be written as JSON.

    Example:
        >>> encode_typed_payload({"a": 1})
        (b'{"a":1}', 'application/json')
        >>> encode_typed_payload(bytearray(b"raw"))
        (b'raw', None)
    """
    if isinstance(event, bytes | bytearray | memoryview):
        return bytes(event), None
    if isinstance(event, str):
        return event.encode("utf-8"), TEXT_CONTENT_TYPE
    return orjson.dumps(event), JSON_CONTENT_TYPE


def encode_payload(event: Any) -> bytes:
    """The payload for ``event``: bytes as they are, ``str`` as UTF-8, anything else as JSON.

    Raises:
        TypeError: the event cannot be written as JSON.

    Example:
        >>> encode_payload("né"), encode_payload([1, None])
        (b'n\\xc3\\xa9', b'[1,null]')
    """
    return encode_typed_payload(event)[0]


def decode_payload(data: bytes, how: str, encoding: str = "utf-8") -> Any:
    """The event for a payload by ``how`` (one of ``PAYLOAD_DECODINGS``; anything else: bytes).

    Raises:
        ValueError: the payload does not decode (``UnicodeDecodeError`` for ``text``,
            ``orjson.JSONDecodeError`` for ``json``).

    Example:
        >>> decode_payload(b'{"a":1}', "json"), decode_payload(b"hi", "text")
        ({'a': 1}, 'hi')
    """
    if how == "text":
        return data.decode(encoding)
    if how == "json":
        return orjson.loads(data)
    return data
