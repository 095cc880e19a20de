"""FTP: a trigger source that downloads matching files from an FTP server (stdlib ``ftplib``).

Install with ``pip install "pumpcore[ftp]"`` (it needs nothing beyond the standard library).
"""

from ._source import FTPSource as FTPSource
from ._source import FTPSourceError as FTPSourceError
from ._source import FTPSourceStatistics as FTPSourceStatistics

__all__ = (
    "FTPSource",
    "FTPSourceError",
    "FTPSourceStatistics",
)
