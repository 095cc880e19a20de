"""BSPump's ``bspump.file``: ``pumpcore_files``' components with BSPump's signatures."""

import pumpcore_files as _files
from pumpcore_files import FileJSONLookupProvider as FileJSONLookupProvider

from ._adapt import adapt

FileABCSource = adapt(_files.FileABCSource, __name__)
FileBlockSource = adapt(_files.FileBlockSource, __name__)
FileCSVSource = adapt(_files.FileCSVSource, __name__)
FileJSONSource = adapt(_files.FileJSONSource, __name__)
FileLineSource = adapt(_files.FileLineSource, __name__)
FileMultiLineSource = adapt(_files.FileMultiLineSource, __name__)
FileBlockSink = adapt(_files.FileBlockSink, __name__)
FileCSVSink = adapt(_files.FileCSVSink, __name__)
FileJSONLinesSink = adapt(_files.FileJSONLinesSink, __name__)

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
)
