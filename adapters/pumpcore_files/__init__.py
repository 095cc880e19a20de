"""Files: sources that read the files landing in a directory at least once (BSPump's lock /
process / move protocol; file offsets are the acknowledgement position, saved durably, so a
restarted pump resumes a half-read file; compressed files read transparently), sinks that make
their files durable on flush, and a JSON file lookup provider.

Duplicates after a crash: a killed pump resumes each file at its last saved offset, so it
replays what the sinks wrote but the source had not acknowledged (the in-flight window:
``commit_every`` positions rounded up to whole batches, 1,024 with the defaults) plus what was
acknowledged since the offset's last save (at most ``offset_commit_every`` records, or
``offset_commit_interval`` seconds' worth; 0 saves on every acknowledgement). Measured with
offsets saved on every acknowledgement (``tests/adapters/files/test_kill.py``): at most 1,024
per kill under every executor (the largest seen in two runs: sync 1,024, threads 720 and 1,024,
asyncio 1,024 and 892, trio 1,011 and 903). The sinks append the
replay after cutting a torn last record."""

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
