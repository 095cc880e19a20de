"""JSON parsers: the standard library's (text) and orjson's (bytes), BSPump's four of them.

Invalid input raises (``json.JSONDecodeError``, ``orjson.JSONDecodeError`` — both ValueErrors —
or ``TypeError`` for a value JSON cannot hold): a bad event is the pipeline's error policy's to
handle, never silently dropped here. A document that is a bare ``null`` parses to None, which
the pipeline reads as "drop this event" (counted as ``event.drop``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from .._component import Context, Processor


class StdJsonToDictParser(Processor):
    """Parses a JSON document (``str`` or ``bytes``) with the standard library's ``json``.

    Use it where orjson's strictness or its 64-bit integer limit gets in the way; otherwise
    ``JsonBytesToDictParser`` is faster.

    Example:
        >>> StdJsonToDictParser().process({}, '{"a": [1, 2]}')
        {'a': [1, 2]}
    """

    def process(self, context: Context, event: Any) -> Any:
        """Return the parsed value (a dict for the usual JSON object).

        Raises:
            json.JSONDecodeError: the event is not valid JSON.
            TypeError: the event is neither text nor bytes.
        """
        return json.loads(event)


class StdDictToJsonParser(Processor):
    """Serialises an event to JSON text (``str``) with the standard library's ``json.dumps``.

    The defaults of ``json.dumps`` are kept, as in BSPump: non-ASCII is escaped, and NaN and
    infinities are written as the non-standard ``NaN``/``Infinity`` tokens.

    Example:
        >>> StdDictToJsonParser().process({}, {"a": 1})
        '{"a": 1}'
    """

    def process(self, context: Context, event: Any) -> str:
        """Return the event as JSON text.

        Raises:
            TypeError: the event holds a value JSON cannot represent.
        """
        return json.dumps(event)


class DictToJsonBytesParser(Processor):
    """Serialises an event to UTF-8 JSON ``bytes`` with orjson, ready for a byte-oriented sink.

    Config:
        encoding: accepted and kept in ``Encoding`` for BSPump compatibility, and ignored there
            as here: orjson always writes UTF-8.

    Example:
        >>> DictToJsonBytesParser().process({}, {"a": 1})
        b'{"a":1}'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"encoding": "utf-8"}

    @property
    def Encoding(self) -> str:
        """The configured ``encoding`` (informational, see the class docstring)."""
        return str(self.Config["encoding"])

    def process(self, context: Context, event: Any) -> bytes:
        """Return the event as compact JSON bytes.

        Raises:
            TypeError: (``orjson.JSONEncodeError``) the event holds a value orjson cannot write,
                such as an integer wider than 64 bits or a non-string dict key.
        """
        return orjson.dumps(event)


class JsonBytesToDictParser(Processor):
    """Parses a JSON document (``bytes``, ``bytearray``, ``memoryview`` or ``str``) with orjson.

    Config:
        encoding: accepted and kept in ``Encoding`` for BSPump compatibility; orjson reads UTF-8
            only.

    Example:
        >>> JsonBytesToDictParser().process({}, b'{"a": [1, 2]}')
        {'a': [1, 2]}
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"encoding": "utf-8"}

    @property
    def Encoding(self) -> str:
        """The configured ``encoding`` (informational, see the class docstring)."""
        return str(self.Config["encoding"])

    def process(self, context: Context, event: Any) -> Any:
        """Return the parsed value.

        Raises:
            orjson.JSONDecodeError: the event is not valid UTF-8 JSON (a ``ValueError``).
        """
        return orjson.loads(event)
