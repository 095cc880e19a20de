"""FTPSource: downloads the files of a remote directory that match a glob, as lines or blocks.

Rules:
1. Each cycle connects, logs in, lists ``path`` (MLSD, or NLST where the server lacks it), and
   downloads, in name order, every regular file whose name matches ``glob`` and that was not
   already emitted, then quits. Names ending in ``rename_suffix`` are never taken.
2. A file is remembered as emitted, with its size and modification time, once its last line or
   block went into the pipeline; it is not emitted again while both are unchanged (a periodic
   trigger polls the same directory). A file that changes on the server is emitted again. The
   memory forgets files that are no longer listed, so it stays as large as the directory.
3. After a file is emitted, ``delete_after`` deletes it on the server, else ``rename_suffix``
   renames it to ``<name><suffix>``; a failure there is reported, and the file stays remembered.
4. A file whose content cannot be decoded (``encoding`` set, invalid bytes) is reported through
   the pipeline's error policy as ``FTPSourceError``, remembered as failed (not retried while
   unchanged), and the cycle goes on with the next file under the soft policy. A file the server
   refuses (a 5xx reply to RETR) is reported the same way and tried again next cycle.
5. A broken connection, a refused login or listing raises ``FTPSourceError`` from ``cycle``: the
   executor reports it (``source_error``), and the next firing tries again.
6. When the pipeline is stopped by a hard error during a file, the rest of the file is still
   downloaded (and discarded) so the control connection stays in step, the file is not
   remembered, and the cycle ends: it is emitted again from its start after recovery.
"""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import ftplib
import logging
import posixpath
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import ConfigError, PipelineStoppedError, PumpError, TriggerSource, config_value_repr

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.ftp")

_Key = tuple[str | None, str | None]  # (size, modify) as the server reports them


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
        files_emitted: files whose every line or block went into the pipeline.
        files_failed: files reported as failed (rule 4).
    """

    files_emitted: int
    files_failed: int


class _Splitter:
    """Turns the chunks ``retrbinary`` delivers into lines or fixed-size blocks.

    An exception while emitting is kept, not raised, so the transfer completes and the control
    connection stays usable (rule 6); the caller looks at ``error`` afterwards.
    """

    def __init__(self, emit: Callable[[bytes, int], None], block_size: int | None) -> None:
        self._emit = emit
        self._block_size = block_size
        self._buffer = bytearray()
        self._offset = 0
        self.error: Exception | None = None

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return
        self._buffer += data
        try:
            if self._block_size is None:
                self._lines()
            else:
                self._blocks(self._block_size)
        except Exception as exc:
            self.error = exc

    def _lines(self) -> None:
        buffer = self._buffer
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end])
            self._offset += end + 1 - start
            start = end + 1
            self._emit(line[:-1] if line.endswith(b"\r") else line, self._offset)
        del buffer[:start]

    def _blocks(self, size: int) -> None:
        buffer = self._buffer
        while len(buffer) >= size:
            block = bytes(buffer[:size])
            del buffer[:size]
            self._offset += size
            self._emit(block, self._offset)

    def finish(self) -> None:
        """Emit what is left after the last chunk (a last line without a terminator)."""
        if self.error is not None or not self._buffer:
            return
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._offset += len(rest)
        try:
            if self._block_size is None and rest.endswith(b"\r"):
                rest = rest[:-1]
            self._emit(rest, self._offset)
        except Exception as exc:
            self.error = exc


class FTPSource(TriggerSource):
    """Emits the lines (or blocks) of the files in a remote FTP directory, with stdlib ``ftplib``.

    Each event's context is ``{"filename": <name>, "remote_path": <path on the server>,
    "offset": <byte offset just after the line or block>}``.

    Config:
        host: the server. Required.
        port: its control port.
        user, password: the login (``anonymous`` by default).
        path: the remote directory to list.
        glob: which file names to take (``fnmatch`` syntax, e.g. ``*.csv``).
        mode: ``"lines"`` (split at ``\\n``, terminator removed) or ``"blocks"``.
        block_size: bytes per block in ``blocks`` mode (the last block may be shorter).
        encoding: ``""`` emits ``bytes``; an encoding name emits decoded ``str``.
        delete_after: delete each file on the server once emitted.
        rename_suffix: rename each file to ``<name><suffix>`` once emitted (when not deleted).
        timeout: seconds for connecting and for each reply or read.

    Example:
        >>> from pumpcore.trigger import PeriodicTrigger
        >>> source = FTPSource(
        ...     config={"host": "127.0.0.1", "path": "/outbox", "glob": "*.log"}
        ... ).on(PeriodicTrigger(60))
        >>> source.Config["mode"]
        'lines'
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
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._emitted: dict[str, _Key] = {}
        self._failed: dict[str, _Key] = {}
        self._n_emitted = self._n_failed = 0
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Derive and check the settings (at construction and on joining a pipeline)."""
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        if config["mode"] not in ("lines", "blocks"):
            raise ConfigError(
                f"{owner}: config key 'mode' must be 'lines' or 'blocks', got "
                f"{config_value_repr('mode', config['mode'])}"
            )
        if config["block_size"] < 1:
            raise ConfigError(f"{owner}: config key 'block_size' must be >= 1")
        if config["timeout"] <= 0:
            raise ConfigError(f"{owner}: config key 'timeout' must be > 0")
        if config["encoding"]:
            try:
                codecs.lookup(config["encoding"])
            except LookupError as exc:
                raise ConfigError(
                    f"{owner}: unknown encoding {config_value_repr('encoding', config['encoding'])}"
                ) from exc
        if self.Pipeline is not None and not config["host"]:
            raise ConfigError(f"{owner}: config key 'host' is empty; give the FTP server")

    def statistics(self) -> FTPSourceStatistics:
        """Files emitted and failed so far."""
        return FTPSourceStatistics(self._n_emitted, self._n_failed)

    def _where(self) -> str:
        return f"ftp://{self.Config['host']}:{self.Config['port']}"

    def cycle(self, *args: Any) -> None:
        """Download and emit the new matching files (see the module rules).

        Raises:
            FTPSourceError: the server could not be reached, logged into or listed, or the
                connection broke.
        """
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        config = self.Config
        ftp = ftplib.FTP(timeout=float(config["timeout"]))
        try:
            try:
                ftp.connect(str(config["host"]), int(config["port"]))
                ftp.login(str(config["user"]), str(config["password"]))
                listing = self._list(ftp)
            except (OSError, EOFError, ftplib.Error) as exc:
                raise FTPSourceError(f"{self._where()}: {exc!r}") from exc
            self._forget_unlisted(listing)
            for name, key in listing:
                if not self._wanted(name, key):
                    continue
                if pipeline.is_error() or pipeline.is_stopped():
                    break
                if not self._fetch(ftp, pipeline, name, key):
                    break
            # Everything was emitted; a failed goodbye loses nothing.
            with contextlib.suppress(OSError, EOFError, ftplib.Error):
                ftp.quit()
        finally:
            ftp.close()

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

    def _forget_unlisted(self, listing: list[tuple[str, _Key]]) -> None:
        names = {name for name, _ in listing}
        self._emitted = {n: k for n, k in self._emitted.items() if n in names}
        self._failed = {n: k for n, k in self._failed.items() if n in names}

    def _wanted(self, name: str, key: _Key) -> bool:
        suffix = str(self.Config["rename_suffix"])
        if suffix and name.endswith(suffix):
            return False
        if not fnmatch.fnmatchcase(name, str(self.Config["glob"])):
            return False
        return self._emitted.get(name) != key and self._failed.get(name) != key

    def _report(self, pipeline: Pipeline, error: FTPSourceError) -> bool:
        log.warning("%s: %s", self.locate_address(), error)
        return pipeline.report_source_failure(self.Id, error)

    def _fetch(self, ftp: ftplib.FTP, pipeline: Pipeline, name: str, key: _Key) -> bool:
        """Download and emit one file. Returns False when the cycle must stop."""
        config = self.Config
        remote = posixpath.join(str(config["path"]), name)
        encoding = str(config["encoding"])

        def emit(raw: bytes, offset: int) -> None:
            event = raw.decode(encoding) if encoding else raw
            self.process(event, {"filename": name, "remote_path": remote, "offset": offset})

        block_size = int(config["block_size"])
        splitter = _Splitter(emit, block_size if config["mode"] == "blocks" else None)
        try:
            ftp.retrbinary(f"RETR {remote}", splitter.feed, blocksize=min(block_size, 65536))
        except ftplib.error_perm as exc:  # the server refuses this file: rule 4
            self._n_failed += 1
            error = FTPSourceError(f"{self._where()}{remote}: {exc}", remote)
            error.__cause__ = exc
            return self._report(pipeline, error)
        except (OSError, EOFError, ftplib.Error) as exc:  # the connection broke: rule 5
            raise FTPSourceError(f"{self._where()}{remote}: {exc!r}", remote) from exc
        splitter.finish()
        if isinstance(splitter.error, PipelineStoppedError):
            return False  # rule 6
        if splitter.error is not None:
            self._n_failed += 1
            self._failed[name] = key
            error = FTPSourceError(f"{self._where()}{remote}: {splitter.error!r}", remote)
            error.__cause__ = splitter.error
            return self._report(pipeline, error)
        self._emitted[name] = key
        self._n_emitted += 1
        return self._finalize(ftp, pipeline, remote)

    def _finalize(self, ftp: ftplib.FTP, pipeline: Pipeline, remote: str) -> bool:
        config = self.Config
        try:
            if config["delete_after"]:
                ftp.delete(remote)
            elif config["rename_suffix"]:
                ftp.rename(remote, remote + str(config["rename_suffix"]))
        except ftplib.error_perm as exc:
            error = FTPSourceError(f"{self._where()}{remote}: after emitting: {exc}", remote)
            error.__cause__ = exc
            return self._report(pipeline, error)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise FTPSourceError(f"{self._where()}{remote}: {exc!r}", remote) from exc
        return True
