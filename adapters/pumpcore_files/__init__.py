"""Files: sources that read the files landing in a directory at least once (BSPump's lock /
process / move protocol; file offsets are the acknowledgement position, saved durably, so a
restarted pump resumes a half-read file; compressed files read transparently), sinks that make
their files durable on flush, and a JSON file lookup provider."""

from ._abc_source import FileABCSource as FileABCSource
from ._abc_source import FileSourceStatistics as FileSourceStatistics
from ._errors import FileReadError as FileReadError
from ._lookup import FileJSONLookupProvider as FileJSONLookupProvider
from ._sinks import FileBlockSink as FileBlockSink
from ._sinks import FileCSVSink as FileCSVSink
from ._sinks import FileJSONLinesSink as FileJSONLinesSink
from ._sources import FileBlockSource as FileBlockSource
from ._sources import FileCSVSource as FileCSVSource
from ._sources import FileJSONSource as FileJSONSource
from ._sources import FileLineSource as FileLineSource
from ._sources import FileMultiLineSource as FileMultiLineSource

__all__ = (
    "FileABCSource",
    "FileBlockSink",
    "FileBlockSource",
    "FileCSVSink",
    "FileCSVSource",
    "FileJSONLinesSink",
    "FileJSONLookupProvider",
    "FileJSONSource",
    "FileLineSource",
    "FileMultiLineSource",
    "FileReadError",
    "FileSourceStatistics",
)
