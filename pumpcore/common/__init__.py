"""BSPump's common components: parsers, mappings, aggregators, in-memory sinks and routing."""

from ._iterator_source import IteratorSource as IteratorSource
from ._sinks import ListSink as ListSink
from ._sinks import NullSink as NullSink

__all__ = (
    "IteratorSource",
    "ListSink",
    "NullSink",
)
