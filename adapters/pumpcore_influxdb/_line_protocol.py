"""InfluxDB 1.x line protocol: encoding a point, and parsing a line back.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``

Escaping rules (what influxd 1.x's parser undoes):
1. Measurements escape ``,`` and space; tag keys, tag values and field keys escape ``,``, ``=``
   and space, each with a backslash. Any other backslash is kept as it is.
2. The parser skips the character after every backslash while it looks for separators, so a
   name whose backslash comes last or right before a character rule 1 escapes cannot be
   written unambiguously; nor can a line break, or a measurement starting with ``#`` (a
   comment). ``encode_point`` raises ``ValueError`` for those rather than write something else.
3. String field values are double-quoted, with ``"`` and ``\\`` escaped; they may hold anything.
4. Field values: ``bool`` → ``true``/``false``, ``int`` → ``123i`` (64-bit), ``float`` as
   Python's ``repr`` (finite only), ``str`` → rule 3. A field or tag whose value is None is
   left out (a point with no field left is an error).
5. Tags are written sorted by key (what InfluxDB stores them by; it is faster to parse).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

_MEASUREMENT_SPECIAL = ", "
_KEY_SPECIAL = ",= "
_INT64 = (-(2**63), 2**63 - 1)


class Point(NamedTuple):
    """A parsed line (``parse_line``)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, bool | int | float | str]
    time: int | None


def _name(text: str, special: str, what: str) -> str:
    """``text`` escaped by rule 1, or ValueError by rule 2."""
    if not text:
        raise ValueError(f"line protocol: an empty {what}")
    if "\n" in text or "\r" in text:
        raise ValueError(f"line protocol: a {what} cannot hold a line break: {text!r}")
    if "\\" in text:
        for i, ch in enumerate(text):
            if ch == "\\" and (i + 1 == len(text) or text[i + 1] in special):
                raise ValueError(
                    f"line protocol: the {what} {text!r} has a backslash before "
                    f"{'its end' if i + 1 == len(text) else repr(text[i + 1])}, which line "
                    "protocol cannot write unambiguously"
                )
    for ch in special:
        if ch in text:
            text = text.replace(ch, "\\" + ch)
    return text


def _field_value(key: str, value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"line protocol: field {key!r} = {value} is outside 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"line protocol: field {key!r} = {value} is not finite")
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ValueError(
        f"line protocol: field {key!r} holds {type(value).__name__}; fields are bool, int, "
        "float or str"
    )


def encode_point(
    measurement: str,
    tags: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    time: int | None = None,
) -> str:
    """One line (without its newline) for a point (module rules 1-5).

    Args:
        measurement: the measurement.
        tags: tag keys and values (values become text with ``str``; None or ``""``: left out).
        fields: field keys and values (None: left out).
        time: the timestamp, in the write's precision; None lets the server stamp it.

    Raises:
        ValueError: the point cannot be written (no field, an unwritable name, a value of
            another type, an integer past 64 bits, a float that is not finite).

    Example:
        >>> encode_point("cpu load", {"host": "a,b"}, {"v": 1, "s": 'x"y'}, 10)
        'cpu\\\\ load,host=a\\\\,b v=1i,s="x\\\\"y" 10'
    """
    if measurement.startswith("#"):
        raise ValueError(f"line protocol: the measurement {measurement!r} starts with '#'")
    parts = [_name(measurement, _MEASUREMENT_SPECIAL, "measurement")]
    if tags:
        for key in sorted(tags):
            value = tags[key]
            if value is None or value == "":
                continue
            parts.append(
                f",{_name(key, _KEY_SPECIAL, 'tag key')}="
                f"{_name(str(value), _KEY_SPECIAL, 'tag value')}"
            )
    written = [
        f"{_name(key, _KEY_SPECIAL, 'field key')}={_field_value(key, value)}"
        for key, value in fields.items()
        if value is not None
    ]
    if not written:
        raise ValueError(f"line protocol: the point {measurement!r} has no field")
    parts.append(" ")
    parts.append(",".join(written))
    if time is not None:
        parts.append(f" {int(time)}")
    return "".join(parts)


def _scan(line: str, at: int, stops: str) -> int:
    """The index of the first of ``stops`` from ``at`` that no backslash escapes."""
    n = len(line)
    while at < n:
        ch = line[at]
        if ch == "\\":
            at += 2
            continue
        if ch in stops:
            return at
        at += 1
    return n


def _unescape(text: str, special: str) -> str:
    for ch in special:
        text = text.replace("\\" + ch, ch)
    return text


def _unescape_string(raw: str) -> str:
    """A string field's text: ``\\"`` and ``\\\\`` undone, left to right."""
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\':
            i += 1
        out.append(raw[i])
        i += 1
    return "".join(out)


def _parse_value(token: str) -> bool | int | float:
    if token in ("t", "T", "true", "True", "TRUE"):
        return True
    if token in ("f", "F", "false", "False", "FALSE"):
        return False
    if token.endswith("i"):
        return int(token[:-1])
    return float(token)


def parse_line(line: str) -> Point:
    """Parse one line (the inverse of ``encode_point``), e.g. to tell whether a line given as
    text has a timestamp.

    Raises:
        ValueError: the line is not line protocol.

    Example:
        >>> parse_line('cpu,host=a v=1i,s="x" 10')
        Point(measurement='cpu', tags={'host': 'a'}, fields={'v': 1, 's': 'x'}, time=10)
    """
    end = _scan(line, 0, ", ")
    measurement = _unescape(line[:end], _MEASUREMENT_SPECIAL)
    if not measurement or end >= len(line):
        raise ValueError(f"line protocol: no fields in {line[:100]!r}")
    tags: dict[str, str] = {}
    at = end
    while line[at] == ",":
        eq = _scan(line, at + 1, "=, ")
        stop = _scan(line, eq + 1, ", ")
        if eq >= len(line) or line[eq] != "=" or stop >= len(line):
            raise ValueError(f"line protocol: a bad tag in {line[:100]!r}")
        tags[_unescape(line[at + 1 : eq], _KEY_SPECIAL)] = _unescape(
            line[eq + 1 : stop], _KEY_SPECIAL
        )
        at = stop
    fields: dict[str, bool | int | float | str] = {}
    while at < len(line) and line[at] in ", " and (line[at] == "," or not fields):
        eq = _scan(line, at + 1, "=, ")
        if eq >= len(line) or line[eq] != "=":
            raise ValueError(f"line protocol: a bad field in {line[:100]!r}")
        key = _unescape(line[at + 1 : eq], _KEY_SPECIAL)
        if line[eq + 1 : eq + 2] == '"':
            i = eq + 2
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            if i >= len(line):
                raise ValueError(f"line protocol: an unclosed string in {line[:100]!r}")
            fields[key] = _unescape_string(line[eq + 2 : i])
            at = i + 1
        else:
            stop = _scan(line, eq + 1, ", ")
            fields[key] = _parse_value(line[eq + 1 : stop])
            at = stop
    if not fields:
        raise ValueError(f"line protocol: no fields in {line[:100]!r}")
    stamp = line[at + 1 :] if at < len(line) else ""
    if at < len(line) and (line[at] != " " or not stamp.lstrip("-").isdigit()):
        raise ValueError(f"line protocol: a bad timestamp in {line[:100]!r}")
    return Point(measurement, tags, fields, int(stamp) if stamp else None)
