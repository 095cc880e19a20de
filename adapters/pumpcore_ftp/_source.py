"""FTPSource: downloads the files of a remote directory that match a glob, as lines or blocks,
and deletes or renames each on the server only once its records were committed.

The source is a ``BlockingSource``: the executor calls ``read`` and ``acknowledge`` in a worker
thread (inline under the sync executor), so stdlib ``ftplib`` runs under every executor. Each
event's position is ``(remote_path, offset)``, the byte offset just after its line or block.

Rules:
1. A scan lists ``path`` (MLSD, or NLST where the server lacks it) and queues, in name order,
   every regular file whose name matches ``glob`` and that was not already emitted. Names
   ending in ``rename_suffix`` are never taken. ``read`` downloads the queued files one at a
   time (into a spooled temporary file: memory stays bounded whatever their size) and returns
   their records; when none is left it scans again. A scan that finds nothing returns ``[]``
   and the executor reads again after ``poll_interval``; with ``watch`` off it returns None
   instead, which ends the input (a finite run).
2. A file is remembered as emitted, with its size and modification time, once its last record
   was read; it is not emitted again while both are unchanged (the server is polled). A file
   that changes on the server is emitted again. The memory forgets files that are no longer
   listed, so it stays as large as the directory.
3. ``delete_after`` deletes a file on the server, else ``rename_suffix`` renames it to
   ``<name><suffix>``, only in ``acknowledge``, once the position of its last record is
   acknowledged: every record of it was written by the sinks (or dropped on purpose). A crash
   or a hard failure before that leaves the file on the server, and the next run emits it
   again (at least once). An empty file has nothing to commit and is finished when read. A
   refusal (5xx) is reported and the file stays as it is, remembered; a broken connection
   leaves the finishing to the next ``acknowledge``, ``read`` or ``close``.
4. A file whose content cannot be decoded (``encoding`` set, invalid bytes) is reported through
   the pipeline's error policy as ``FTPSourceError`` (the records before the bad one go out
   first), remembered as failed (not retried while unchanged) and never deleted or renamed.
   A file the server refuses (a 5xx reply to RETR) is reported the same way and tried again at
   the next scan.
5. A broken connection, a refused login or listing raises ``FTPSourceError`` from ``read``: the
   executor reports it (``source.error``) and reads again after ``retry_delay``.
6. ``read`` and ``acknowledge`` may run in two worker threads at once (executors commit while a
   read is in progress); they share one control connection, and a lock.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ftplib
import logging
import posixpath
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import BlockingSource, ConfigError, ConfigRule, PumpError, Received
from pumpcore.config import in_range, one_of, positive, text_codec

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.ftp")

_Key = tuple[str | None, str | None]  # (size, modify) as the server reports them
# Bytes of a download kept in memory before it spills into a temporary file.
_SPOOL = 1 << 22
_CONNECTION_ERRORS = (OSError, EOFError, ftplib.Error)


class FTPSourceError(PumpError):
    """The FTP server could not be reached or used, or a remote file could not be read.

    Attributes:
        remote_path: the file concerned, None for a connection-level failure.
    """

    def __init__(self, message: str, remote_path: str | None = None) -> None:
        super().__init__(message)
        self.remote_path = remote_path


@attrs.frozen
class FTPSourceStatistics:
    """What an FTP source did so far.

    Attributes:
        files_emitted: files whose every line or block was read into the pipeline.
        files_failed: files reported as failed (rule 4).
        files_finished: files deleted or renamed on the server once committed (rule 3).
    """

    files_emitted: int
    files_failed: int
    files_finished: int


class _Download:
    """A downloaded file whose records are being read."""

    def __init__(
        self, name: str, remote: str, key: _Key, size: int, records: Iterator[tuple[bytes, int]]
    ) -> None:
        self.name = name
        self.remote = remote
        self.key = key
        #: The file's length: the position of its last record.
        self.size = size
        self.records = records


def _lines(f: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    offset = 0
    for raw in f:
        offset += len(raw)
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        yield (raw[:-1] if raw.endswith(b"\r") else raw), offset


def _blocks(f: IO[bytes], size: int) -> Iterator[tuple[bytes, int]]:
    offset = 0
    while block := f.read(size):
        offset += len(block)
        yield block, offset


class FTPSource(BlockingSource):
    """Emits the lines (or blocks) of the files in a remote FTP directory, with stdlib ``ftplib``.

    Each event's context is ``{"filename": <name>, "remote_path": <path on the server>,
    "offset": <byte offset just after the line or block>}``; its position is
    ``(remote_path, offset)``.

    Config:
        host: the server. Required.
        port: its control port.
        user, password: the login (``anonymous`` by default).
        path: the remote directory to list.
        glob: which file names to take (``fnmatch`` syntax, e.g. ``*.csv``).
        mode: ``"lines"`` (split at ``\\n``, terminator removed) or ``"blocks"``.
        block_size: bytes per block in ``blocks`` mode (the last block may be shorter).
        encoding: ``""`` emits ``bytes``; an encoding name emits decoded ``str``.
        delete_after: delete each file on the server once its records were committed.
        rename_suffix: rename each file to ``<name><suffix>`` once committed (when not deleted).
        timeout: seconds for connecting and for each reply or read.
        watch: poll the directory again every ``poll_interval`` seconds (True), or end the input
            once a scan finds nothing new (False: a finite run).
        poll_interval, retry_delay, read_size: see ``IOSource`` (defaults 60, 1 and 256 here).

    Example:
        >>> source = FTPSource(config={"host": "127.0.0.1", "path": "/outbox", "glob": "*.log"})
        >>> source.Config["mode"], source.Config["poll_interval"]
        ('lines', 60.0)
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "host": "",
        "port": 21,
        "user": "anonymous",
        "password": "",
        "path": "/",
        "glob": "*",
        "mode": "lines",
        "block_size": 65536,
        "encoding": "",
        "delete_after": False,
        "rename_suffix": "",
        "timeout": 30.0,
        "watch": True,
        "poll_interval": 60.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "port": in_range(1, 65535),
        "mode": one_of("lines", "blocks"),
        # One block is held in memory: 1 GiB is already beyond a sane block.
        "block_size": in_range(1, 2**30),
        "encoding": text_codec(allow_empty=True),
        "timeout": positive(),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._ftp: ftplib.FTP | None = None
        self._queue: deque[tuple[str, _Key]] = deque()
        self._current: _Download | None = None
        self._spool: IO[bytes] | None = None
        self._error: FTPSourceError | None = None
        self._emitted: dict[str, _Key] = {}
        self._failed: dict[str, _Key] = {}
        #: Remote paths read to the end, by the offset whose acknowledgement finishes them.
        self._awaiting: dict[str, int] = {}
        #: Remote paths committed whose delete or rename has not been done yet (rule 3).
        self._to_finish: list[str] = []
        self._n_emitted = self._n_failed = self._n_finished = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Derive and check the settings (at construction and on joining a pipeline)."""
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        if self.Pipeline is not None and not config["host"]:
            raise ConfigError(f"{owner}: config key 'host' is empty; give the FTP server")

    def statistics(self) -> FTPSourceStatistics:
        """Files emitted, failed and finished so far."""
        return FTPSourceStatistics(self._n_emitted, self._n_failed, self._n_finished)

    def _where(self) -> str:
        return f"ftp://{self.Config['host']}:{self.Config['port']}"

    # ------------------------------------------------------------ the connection

    def _connection(self) -> ftplib.FTP:
        """The control connection, connected and logged in on first use (rule 5).

        Raises:
            FTPSourceError: the server could not be reached or refused the login.
        """
        if self._ftp is None:
            config = self.Config
            ftp = ftplib.FTP(timeout=float(config["timeout"]))
            try:
                ftp.connect(str(config["host"]), int(config["port"]))
                ftp.login(str(config["user"]), str(config["password"]))
            except _CONNECTION_ERRORS as exc:
                ftp.close()
                raise FTPSourceError(f"{self._where()}: {exc!r}") from exc
            self._ftp = ftp
        return self._ftp

    def _disconnect(self) -> None:
        """Drop the connection (it broke, or the source closes); the next use reconnects."""
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with contextlib.suppress(*_CONNECTION_ERRORS):
                ftp.quit()
            ftp.close()

    # ------------------------------------------------------------ the I/O contract

    def read(self, max_items: int) -> Sequence[Received] | None:
        """Up to ``max_items`` records of the files found (rules 1, 2 and 4).

        Raises:
            FTPSourceError: the server could not be used (rule 5), or a file could not be read
                or decoded (rule 4; the next read goes on with the other files).
        """
        with self._lock:
            if self._error is not None:
                pending, self._error = self._error, None
                raise pending
            out: list[Received] = []
            scanned = False
            try:
                self._finish_committed()
                while len(out) < max_items:
                    if self._current is None:
                        if not self._queue:
                            if scanned:
                                break
                            scanned = True
                            self._scan()
                            continue
                        self._download(*self._queue.popleft())
                        continue
                    self._take(self._current, out, max_items)
            except FTPSourceError as exc:
                if out:
                    self._error = exc  # what was read goes first
                    return out
                raise
            if out:
                return out
            return [] if self.Config["watch"] else None

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Delete or rename the files whose last record is among ``positions`` (rule 3).

        Raises:
            FTPSourceError: the server refused to delete or rename a file (the first such
                error; the others are logged), or could not be reached (tried again later).
        """
        with self._lock:
            for remote, offset in positions:
                end = self._awaiting.get(remote)
                if end is not None and offset >= end:
                    del self._awaiting[remote]
                    self._to_finish.append(remote)
            self._finish_committed()

    def close(self) -> None:
        """Finish what was committed and not finished yet (best effort), then disconnect."""
        with self._lock:
            try:
                self._finish_committed()
            except FTPSourceError as exc:
                log.warning("%s: %s", self.locate_address(), exc)
            self._drop_current()
            self._queue.clear()
            self._disconnect()

    # ------------------------------------------------------------ scanning and reading

    def _scan(self) -> None:
        try:
            listing = self._list(self._connection())
        except _CONNECTION_ERRORS as exc:
            self._disconnect()
            raise FTPSourceError(f"{self._where()}: {exc!r}") from exc
        names = {name for name, _ in listing}
        self._emitted = {n: k for n, k in self._emitted.items() if n in names}
        self._failed = {n: k for n, k in self._failed.items() if n in names}
        self._queue.extend((name, key) for name, key in listing if self._wanted(name, key))

    def _list(self, ftp: ftplib.FTP) -> list[tuple[str, _Key]]:
        path = str(self.Config["path"])
        try:
            entries = [
                (name, (facts.get("size"), facts.get("modify")))
                for name, facts in ftp.mlsd(path, facts=["type", "size", "modify"])
                if facts.get("type", "file") == "file"
            ]
        except ftplib.error_perm:
            # No MLSD on this server: names only; SIZE (in binary mode) tells a change apart.
            listed_names = ftp.nlst(path)
            ftp.voidcmd("TYPE I")  # after NLST, which switches to ASCII; SIZE needs binary
            entries = []
            for listed in listed_names:
                name = posixpath.basename(listed)
                try:
                    size = ftp.size(posixpath.join(path, name))
                except ftplib.error_perm:
                    continue  # a directory, or something we may not read
                entries.append((name, (None if size is None else str(size), None)))
        return sorted(entries)

    def _wanted(self, name: str, key: _Key) -> bool:
        suffix = str(self.Config["rename_suffix"])
        if suffix and name.endswith(suffix):
            return False
        if not fnmatch.fnmatchcase(name, str(self.Config["glob"])):
            return False
        return self._emitted.get(name) != key and self._failed.get(name) != key

    def _download(self, name: str, key: _Key) -> None:
        """Fetch one file into a spooled temporary file and start reading its records."""
        config = self.Config
        remote = posixpath.join(str(config["path"]), name)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 (kept open)
        try:
            ftp = self._connection()
            ftp.retrbinary(f"RETR {remote}", spool.write)
        except ftplib.error_perm as exc:  # the server refuses this file: rule 4
            spool.close()
            self._n_failed += 1
            raise FTPSourceError(f"{self._where()}{remote}: {exc}", remote) from exc
        except _CONNECTION_ERRORS as exc:  # rule 5
            spool.close()
            self._disconnect()
            raise FTPSourceError(f"{self._where()}{remote}: {exc!r}", remote) from exc
        size = spool.tell()
        spool.seek(0)
        self._spool = spool
        if config["mode"] == "blocks":
            records = _blocks(spool, int(config["block_size"]))
        else:
            records = _lines(spool)
        self._current = _Download(name, remote, key, size, records)

    def _take(self, download: _Download, out: list[Received], max_items: int) -> None:
        """Move records of the current file into ``out``; note its end (rules 2 and 3)."""
        encoding = str(self.Config["encoding"])
        name, remote = download.name, download.remote
        for raw, offset in download.records:
            try:
                event: Any = raw.decode(encoding) if encoding else raw
            except UnicodeDecodeError as exc:  # rule 4
                self._drop_current()
                self._failed[name] = download.key
                self._n_failed += 1
                raise FTPSourceError(f"{self._where()}{remote}: {exc!r}", remote) from exc
            context = {"filename": name, "remote_path": remote, "offset": offset}
            out.append(Received(event, (remote, offset), context))
            if len(out) >= max_items:
                return
        # The file ended: every record is out; it is finished once the last one is committed.
        self._drop_current()
        self._emitted[name] = download.key
        self._n_emitted += 1
        if download.size:
            self._awaiting[remote] = download.size
        else:
            self._to_finish.append(remote)  # empty: nothing to commit

    def _drop_current(self) -> None:
        self._current = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _finish_committed(self) -> None:
        """Delete or rename the committed files (rule 3).

        Raises:
            FTPSourceError: the first refusal (the others are logged), or a broken connection
                (the files not finished yet wait for the next call).
        """
        config = self.Config
        if not config["delete_after"] and not config["rename_suffix"]:
            self._n_finished += len(self._to_finish)
            self._to_finish.clear()
            return
        errors: list[FTPSourceError] = []
        while self._to_finish:
            remote = self._to_finish[0]
            try:
                ftp = self._connection()
                if config["delete_after"]:
                    ftp.delete(remote)
                else:
                    ftp.rename(remote, remote + str(config["rename_suffix"]))
            except ftplib.error_perm as exc:
                error = FTPSourceError(f"{self._where()}{remote}: after committing: {exc}", remote)
                error.__cause__ = exc
                log.warning("%s: %s", self.locate_address(), error)
                errors.append(error)
            except _CONNECTION_ERRORS as exc:
                self._disconnect()
                raise FTPSourceError(f"{self._where()}{remote}: {exc!r}", remote) from exc
            else:
                self._n_finished += 1
            self._to_finish.pop(0)
        if errors:
            raise errors[0]
