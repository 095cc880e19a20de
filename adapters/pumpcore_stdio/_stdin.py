"""StdinLineSource: lines of a text stream (standard input by default) as events, until EOF.

It is a ``BlockingSource``: the executor calls ``read`` in a worker thread (inline under the sync
executor) only while the source's buffer runs low and its pipeline is ready, so a slow pipeline
holds the producer back through the pipe (backpressure) instead of lines piling up in memory.

Rules:
1. ``read`` waits at most ``read_timeout`` seconds for input, then returns what came: the
   complete lines, or ``[]`` when none did (the executor reads again at once). Never waiting
   longer keeps a stop prompt, and an interactive or trickling producer sees each line processed
   as soon as it is written.
2. A stream with a file descriptor (a pipe, a terminal, a file) is read with ``os.read`` on the
   descriptor: it returns what is there without waiting for more, where ``readline`` would block
   on half a line. Lines are cut at the byte ``\\n`` (so the encoding must be ASCII-compatible, as
   standard input's is), lose a trailing ``\\r`` and are decoded one by one with the stream's
   encoding and error handler: a line that does not decode is reported by the next ``read``
   (the error policy decides) and the lines around it go on. Whatever Python's own ``sys.stdin``
   buffer already holds (read before the source started) is not seen. A stream without a
   descriptor (``io.StringIO``) is read with ``readline``, which never waits for such a stream.
3. End of file returns the last, unterminated line if any, then None: the input ended, which lets
   a finite run end.
4. Standard input cannot be read again, so events carry no position: there is nothing to
   acknowledge, and a line read is the pipeline's from then on (a hard error keeps untaken lines
   in the source's buffer until the pipeline recovers).
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from pumpcore import BlockingSource, ConfigRule, Received
from pumpcore.config import in_range

if TYPE_CHECKING:
    from pumpcore import Pipeline

_CHUNK = 65536


def _descriptor(stream: TextIO) -> int | None:
    """The stream's file descriptor, or None when it has none (an in-memory stream)."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


def _wait_readable(fd: int, timeout: float) -> bool:
    """True when reading ``fd`` now would not wait (or when we cannot tell: then we read)."""
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):  # select() refuses this kind of descriptor (pipes on Windows)
        return True
    return bool(readable)


class StdinLineSource(BlockingSource):
    """Emits each line of a text stream as a ``str`` event, without its line terminator.

    Args:
        pipeline: the pipeline to join now (optional; ``build`` attaches it too).
        id: the component id (default: the class name).
        config: configuration keys (below).
        stream: the text stream to read; None means ``sys.stdin`` at the moment of reading, so a
            host or test that replaces ``sys.stdin`` is honoured.

    Config:
        read_timeout: seconds a read waits for input before answering ``[]`` (rule 1).
        read_size, poll_interval, retry_delay: see ``IOSource`` (``poll_interval`` is 0 here:
            the read itself waited).

    Example (the executor's calls made by hand; ``pumpcore_executors.run`` makes them):
        >>> import io
        >>> source = StdinLineSource(stream=io.StringIO("a\\nb\\r\\nc"))
        >>> [r.event for r in source.read(100)]
        ['a', 'b', 'c']
        >>> source.read(100) is None
        True
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"read_timeout": 0.2, "poll_interval": 0.0}
    # A read blocks a worker thread for read_timeout: NaN or inf would never answer a stop.
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"read_timeout": in_range(0, 3600)}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._stream = stream
        self._lock = threading.Lock()
        self._partial = b""
        self._pending: list[str] = []
        self._bad: list[UnicodeDecodeError] = []
        self._eof = False
        #: Lines read from the stream so far (handed to the executor).
        self.lines_read = 0

    @property
    def Stream(self) -> TextIO:
        """The stream read now: the given one, else the current ``sys.stdin``."""
        return self._stream if self._stream is not None else sys.stdin

    def read(self, max_items: int) -> Sequence[Received] | None:
        """Up to ``max_items`` lines; ``[]`` when none came within ``read_timeout``; None after
        the end of the input (rules 1-3)."""
        with self._lock:
            if self._bad and not self._pending:
                raise self._bad.pop(0)  # rule 2: after the lines read before it
            if len(self._pending) < max_items and not self._eof:
                stream = self.Stream
                fd = _descriptor(stream)
                if fd is None:
                    self._read_lines(stream, max_items - len(self._pending))
                else:
                    self._read_descriptor(stream, fd, max_items - len(self._pending))
            lines, self._pending = self._pending[:max_items], self._pending[max_items:]
            if not lines and self._eof and not self._bad:
                return None
            self.lines_read += len(lines)
            return [Received(line) for line in lines]

    def _read_lines(self, stream: TextIO, wanted: int) -> None:
        for _ in range(wanted):
            line = stream.readline()
            if line == "":
                self._eof = True
                return
            self._pending.append(_strip(line) if line.endswith("\n") else line)

    def _read_descriptor(self, stream: TextIO, fd: int, wanted: int) -> None:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        errors = getattr(stream, "errors", None) or "strict"
        deadline = time.monotonic() + float(self.Config["read_timeout"])
        got = 0
        # Rule 1: wait (until the deadline) for a first complete line only; after that, take
        # what is there and return.
        while got < wanted:
            wait = 0.0 if got else max(0.0, deadline - time.monotonic())
            if not _wait_readable(fd, wait):
                return
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                if self._partial:
                    self._decode(self._partial, encoding, errors)
                    self._partial = b""
                self._eof = True
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            for raw in complete:
                self._decode(raw, encoding, errors)
            got += len(complete)  # more than wanted stay pending for the next read

    def _decode(self, raw: bytes, encoding: str, errors: str) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            self._pending.append(raw.decode(encoding, errors))
        except UnicodeDecodeError as exc:
            self._bad.append(exc)

    def close(self) -> None:
        """Forget lines not handed over (the stream itself belongs to the process)."""
        with self._lock:
            self._partial = b""
            self._pending.clear()


def _strip(line: str) -> str:
    return _strip_cr(line[:-1])


def _strip_cr(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line
