"""Printing components (BSPump's ``bspump.common`` print family): sinks and pass-through
processors that write events or contexts to a text stream.

The stream defaults to ``sys.stdout`` *looked up at every write*, not captured at construction:
whoever replaces ``sys.stdout`` later (pytest's capture, a host application redirecting output)
sees the output, and a pipeline built at import time does not pin a stale stream.
"""

from __future__ import annotations

import pprint
import sys
from typing import TYPE_CHECKING, Any, TextIO

from pumpcore import Context, Processor, Sink

if TYPE_CHECKING:
    pass


class _StreamMixin:
    """Holds the optional ``stream`` and resolves it when writing."""

    def __init__(self, *args: Any, stream: TextIO | None = None, **kwargs: Any) -> None:
        # Each class here takes the component's (pipeline, id, config) plus ``stream=``.
        self._stream = stream
        super().__init__(*args, **kwargs)

    @property
    def Stream(self) -> TextIO:
        """Where output goes now: the given stream, else the current ``sys.stdout``."""
        return self._stream if self._stream is not None else sys.stdout

    def _print(self, value: Any) -> None:
        print(value, file=self.Stream)

    def _pprint(self, value: Any) -> None:
        pprint.pprint(value, stream=self.Stream)


class PrintSink(_StreamMixin, Sink):
    """Prints each event with ``print`` and ends the pipeline (BSPump's ``PrintSink``).

    Args:
        pipeline: the pipeline to join now (optional; ``build`` attaches it too).
        id: the component id (default: the class name).
        config: configuration keys (none are defined).
        stream: a text stream; None means ``sys.stdout`` at the moment of each write.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> PrintSink(stream=out).process({}, {"a": 1})
        >>> out.getvalue()
        "{'a': 1}\\n"
    """

    def process(self, context: Context, event: Any) -> None:
        """Print the event."""
        self._print(event)

    def flush(self) -> None:
        """Flush the stream, so printed events are out of Python's buffers."""
        self.Stream.flush()


class PPrintSink(PrintSink):
    """Pretty-prints each event with ``pprint`` and ends the pipeline (BSPump's ``PPrintSink``).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> PPrintSink(stream=out).process({}, {"b": 2, "a": 1})
        >>> out.getvalue()
        "{'a': 1, 'b': 2}\\n"
    """

    def process(self, context: Context, event: Any) -> None:
        """Pretty-print the event."""
        self._pprint(event)


class PrintProcessor(_StreamMixin, Processor):
    """Prints each event and passes it on unchanged (BSPump's ``PrintProcessor``): a tap for
    looking into the middle of a pipeline.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> PrintProcessor(stream=out).process({}, "x")
        'x'
        >>> out.getvalue()
        'x\\n'
    """

    def process(self, context: Context, event: Any) -> Any:
        """Print the event and return it."""
        self._print(event)
        return event


class PPrintProcessor(PrintProcessor):
    """Pretty-prints each event and passes it on unchanged (BSPump's ``PPrintProcessor``)."""

    def process(self, context: Context, event: Any) -> Any:
        """Pretty-print the event and return it."""
        self._pprint(event)
        return event


class PrintContextProcessor(PrintProcessor):
    """Prints each event's *context* and passes the event on (BSPump's
    ``PrintContextProcessor``): shows what sources and earlier steps put beside the event."""

    def process(self, context: Context, event: Any) -> Any:
        """Print the context and return the event."""
        self._print(context)
        return event


class PPrintContextProcessor(PrintProcessor):
    """Pretty-prints each event's context and passes the event on (BSPump's
    ``PPrintContextProcessor``)."""

    def process(self, context: Context, event: Any) -> Any:
        """Pretty-print the context and return the event."""
        self._pprint(context)
        return event
