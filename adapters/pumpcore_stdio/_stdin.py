"""StdinLineSource: lines of a text stream (standard input by default) as events, until EOF.

It is a plain pulled source, not a trigger source: the executor pumps it only while its pipeline
is ready, so a slow pipeline holds the producer back through the pipe (backpressure) instead of
lines piling up in memory.

Rules:
1. ``pump`` blocks for the first line of a batch only; further lines join the batch while the
   stream has data ready (``select`` on its descriptor; an in-memory stream never blocks), so an
   interactive or trickling producer sees each line processed as soon as it is written.
2. Lines the pipeline did not take (a hard error stopped it mid-batch) are kept and offered first
   on the next ``pump``; nothing read is lost.
3. End of file exhausts the source, which lets a finite run end.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from pumpcore import Source

if TYPE_CHECKING:
    from pumpcore import Pipeline


def _has_data(stream: TextIO) -> bool:
    """True when reading ``stream`` now would not wait for the writer (as far as we can tell)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: an in-memory stream
        return True
    try:
        readable, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):  # select() refuses this kind of descriptor (pipes on Windows)
        return False
    return bool(readable)


class StdinLineSource(Source):
    """Emits each line of a text stream as a ``str`` event, without its line terminator.

    Args:
        pipeline: the pipeline to join now (optional; ``build`` attaches it too).
        id: the component id (default: the class name).
        config: configuration keys (none are defined).
        stream: the text stream to read; None means ``sys.stdin`` at the moment of reading, so a
            host or test that replaces ``sys.stdin`` is honoured.

    ``pump`` blocks until a line (or EOF) arrives. Under the synchronous executor that is the
    point; an executor that must not block its loop runs the pump in a worker thread.

    Example:
        >>> import io
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build(StdinLineSource(stream=io.StringIO("a\\nb\\r\\nc")), sink)
        >>> p.locate_source("StdinLineSource").pump(100)
        3
        >>> sink.Events
        ['a', 'b', 'c']
    """

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
        self._pending: list[str] = []
        self._eof = False
        #: Lines read from the stream so far.
        self.lines_read = 0

    @property
    def Stream(self) -> TextIO:
        """The stream read now: the given one, else the current ``sys.stdin``."""
        return self._stream if self._stream is not None else sys.stdin

    def _read_batch(self, max_items: int) -> list[str]:
        stream = self.Stream
        lines: list[str] = []
        while len(lines) < max_items:
            if lines and not _has_data(stream):
                break  # rule 1: never wait for a line once the batch has something to offer
            line = stream.readline()
            if line == "":
                self._eof = True
                break
            if line.endswith("\n"):
                line = line[:-1]
                if line.endswith("\r"):  # a stream opened with newline="" keeps CRLF
                    line = line[:-1]
            lines.append(line)
        self.lines_read += len(lines)
        return lines

    def pump(self, max_items: int) -> int:
        """Read up to ``max_items`` lines (blocking for the first) and process them.

        Returns:
            How many lines the pipeline took.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        if not self._pending and not self._eof:
            self._pending = self._read_batch(max_items)
        if not self._pending:
            return 0
        taken = pipeline.process_events(self._pending)
        self._pending = self._pending[taken:]
        return taken

    def has_pending(self) -> bool:
        """True until EOF was read and every line read was taken."""
        return bool(self._pending) or not self._eof

    def exhausted(self) -> bool:
        """True once EOF was read and every line was taken."""
        return self._eof and not self._pending
