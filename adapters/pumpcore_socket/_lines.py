"""The line protocol, without I/O: splitting received bytes into lines, and events into bytes.

Rules (``LineSplitter``):
1. A line ends at ``\\n``; the ``\\n`` and one ``\\r`` before it are removed. Empty lines are
   lines.
2. A line with more than ``max_line_length`` bytes before its ``\\n`` is dropped and counted
   once (``too_long``); its bytes are skipped up to the next ``\\n`` without being kept, so a
   peer cannot make the server hold more than ``max_line_length`` bytes per connection, and the
   lines after it on the same connection are kept.
3. Bytes after the last ``\\n`` are held until more data comes. When the connection ends they
   are an incomplete line (``pending``): the caller drops and counts it, because a record cut
   short by a disconnect is worse than a missing one, and a client that reconnects (such as
   ``StreamClientSink``) sends that line again whole.

anyio's ``BufferedByteReceiveStream.receive_until`` is not used: it raises on the first line
over its limit, and the stream is then left holding the line's head, while rule 2 wants the
connection to carry on past it.
"""

from __future__ import annotations

from typing import Any

import orjson


class LineSplitter:
    """Splits the bytes of one connection into lines (see the module rules).

    Example:
        >>> s = LineSplitter(max_line_length=5)
        >>> s.feed(b"ab\\r\\ncd")
        [b'ab']
        >>> s.feed(b"\\ntoo long\\nok\\n")
        [b'cd', b'ok']
        >>> s.too_long, s.pending
        (1, 0)
    """

    def __init__(self, max_line_length: int) -> None:
        self.max_line_length = max_line_length
        self.too_long = 0
        self._held = bytearray()
        self._skipping = False

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held now (0 while skipping an over-long line)."""
        return len(self._held)

    def take_pending(self) -> bytes:
        """The incomplete line held now, which the splitter forgets (rule 3: the caller rejects
        it once the connection ended)."""
        held = bytes(self._held)
        self._held.clear()
        return held

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by ``data``, in order, without their terminators."""
        lines: list[bytes] = []
        start = 0
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return lines
            self._skipping = False
            start = newline + 1
        held, limit = self._held, self.max_line_length
        while (newline := data.find(b"\n", start)) >= 0:
            if held:
                line = bytes(held) + data[start:newline]
                held.clear()
            else:
                line = data[start:newline]
            start = newline + 1
            if len(line) > limit:
                self.too_long += 1
                continue
            lines.append(line[:-1] if line.endswith(b"\r") else line)
        if len(held) + len(data) - start > limit:
            # The incomplete line is already too long: count it now, keep none of it.
            self.too_long += 1
            held.clear()
            self._skipping = True
        else:
            held += data[start:]
        return lines


def encode_event(event: Any, encoding: str) -> bytes:
    """An event as bytes on the wire: bytes as they are, ``str`` encoded, a dict or a list as
    JSON (orjson: one line, no newline inside).

    Raises:
        TypeError: any other event (a bad event: the pipeline's error policy handles it).
        UnicodeEncodeError: a ``str`` the encoding cannot represent.
    """
    if isinstance(event, bytes):
        return event
    if isinstance(event, bytearray | memoryview):
        return bytes(event)
    if isinstance(event, str):
        return event.encode(encoding)
    if isinstance(event, dict | list):
        return orjson.dumps(event)
    raise TypeError(
        f"cannot send a {type(event).__name__} event; send bytes, str, a dict or a list"
    )
