"""FTP: a trigger source that downloads matching files from an FTP server (stdlib ``ftplib``).

Install with ``pip install "pumpcore[ftp]"`` (it needs nothing beyond the standard library).

Duplicates after a crash: the server keeps no offset, and a file is deleted or renamed only once
all its records were acknowledged; a crash re-emits every unfinished file whole. So the
duplicates are the in-flight window (``commit_every`` positions rounded up to whole batches,
1,024 with the defaults) rounded up to whole files: the records of a file acknowledged before
the crash come again with it. Split large files on the server to keep the window small.
"""

from ._source import FTPSource as FTPSource
from ._source import FTPSourceError as FTPSourceError
from ._source import FTPSourceStatistics as FTPSourceStatistics

__all__ = (
    "FTPSource",
    "FTPSourceError",
    "FTPSourceStatistics",
)
