"""File sinks: CSV rows, raw blocks and JSON lines, each to a path from config or per event.

They are ``BlockingSink``s: ``process`` runs on the executor's loop thread and only writes into
an open file (Python's buffer, the page cache), which is cheap; ``flush`` runs in a worker thread
and makes it durable; the executor acknowledges the sources' positions only after it returned.

Rules:
1. The output path is ``get_file_name(context, event)``: the ``path`` config key unless a
   subclass overrides it (to split output by day, by source file, …).
2. ``flush()`` makes everything written so far durable: it flushes Python's buffers, fsyncs each
   file written since the last flush and the directories files were created in, and raises when
   any of it failed (the run is then poisoned: nothing more is acknowledged). A file that got no
   event since the previous flush is closed, so routing by day does not pile up open files.
3. At most ``max_open_files`` files stay open between flushes; writing to one more closes the
   least recently used, which is then fsynced through a fresh descriptor at the next flush.
4. An event that cannot be written (wrong type, a CSV row with unknown columns, an I/O error) raises
   from ``process``: the pipeline's error policy handles it, never a silent drop. An I/O error
   may also have lost bytes of earlier events still in Python's buffer, so it is raised again by
   the next ``flush``: what was acknowledged is never what was lost.
5. ``close()`` closes every file (the executor calls it after the last flush). Outside an
   executor, call ``flush()`` then ``close()`` yourself.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar

import orjson

from pumpcore import BlockingSink, ConfigError, Context, config_value_repr

from ._common import fsync_directory

if TYPE_CHECKING:
    from pumpcore import Pipeline


class _OpenFiles:
    """A sink's open files by path, least recently used first (rules 2 and 3)."""

    def __init__(self) -> None:
        self.files: OrderedDict[str, IO[Any]] = OrderedDict()
        self.limit = 128
        self._used: set[str] = set()
        self._unsynced: set[str] = set()
        self._dirs: set[str] = set()
        self.errors: list[OSError] = []

    def get(self, path: str) -> IO[Any] | None:
        f = self.files.get(path)
        if f is not None:
            self.files.move_to_end(path)
            self._used.add(path)
        return f

    def add(self, path: str, f: IO[Any]) -> None:
        old = self.files.pop(path, None)
        if old is not None:
            self._close(path, old)
        self.files[path] = f
        self._used.add(path)
        self._dirs.add(os.path.dirname(os.path.abspath(path)))
        while len(self.files) > self.limit:
            oldest, handle = self.files.popitem(last=False)
            self._close(oldest, handle)

    def _close(self, path: str, f: IO[Any]) -> None:
        """Close a file before its flush: its data reach the OS now, fsync comes later."""
        self._unsynced.add(path)
        try:
            f.close()
        except OSError as exc:
            self.errors.append(exc)  # rule 4: the next flush raises it

    def broken(self, exc: OSError) -> None:
        """A write failed: bytes of earlier events may be lost with it (rule 4)."""
        self.errors.append(exc)

    def sync(self) -> None:
        """Rule 2: make everything durable, close idle files, raise the first failure."""
        errors, self.errors = self.errors, []
        for path, f in list(self.files.items()):
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                errors.append(exc)
                del self.files[path]
                _close_quietly(f)  # its buffer is gone; the next event reopens it
                continue
            if path not in self._used:
                del self.files[path]
                f.close()
        for path in sorted(self._unsynced):
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                errors.append(exc)
        for directory in sorted(self._dirs):
            fsync_directory(directory)
        self._used.clear()
        self._unsynced.clear()
        self._dirs.clear()
        if errors:
            raise errors[0]

    def close_all(self) -> None:
        files, self.files = self.files, OrderedDict()
        first: OSError | None = None
        for f in files.values():
            try:
                f.close()
            except OSError as exc:
                first = first or exc
        if first is not None:
            raise first


def _close_quietly(f: IO[Any]) -> None:
    with contextlib.suppress(OSError):
        f.close()


class _FileSink(BlockingSink):
    """Common parts: the output path, build-time checks, open files, durable flushing."""

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"path": "", "max_open_files": 128}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._files = _OpenFiles()
        super().__init__(pipeline, id, config)

    def _owner(self) -> str:
        return f"{type(self).__name__} {self.Id!r}"

    def apply_config(self) -> None:
        super().apply_config()
        overridden = type(self).get_file_name is not _FileSink.get_file_name
        if self.Pipeline is not None and not self.Config["path"] and not overridden:
            raise ConfigError(
                f"{self._owner()}: config key 'path' is empty; set it or override get_file_name()"
            )
        limit = int(self.Config["max_open_files"])
        if limit < 1:
            raise ConfigError(f"{self._owner()}: config key 'max_open_files' must be >= 1")
        self._files.limit = limit

    def get_file_name(self, context: Context, event: Any) -> str:
        """The file ``event`` goes to (BSPump's hook): the ``path`` config key by default.

        Override it to route events to files of your choosing, e.g. one file per day.
        """
        return str(self.Config["path"])

    def _target(self, context: Context, event: Any) -> str:
        name = os.fspath(self.get_file_name(context, event))
        if not name:
            raise ValueError(f"{self._owner()}: get_file_name() returned an empty path")
        return name

    def flush(self) -> None:
        """Make every event written so far durable (rule 2).

        Raises:
            OSError: a file could not be written or synced; the events are not durable.
        """
        self._files.sync()

    def close(self) -> None:
        """Close every file (rule 5)."""
        self._files.close_all()


class FileCSVSink(_FileSink):
    """Writes dict events as CSV rows (BSPump's ``FileCSVSink``).

    The columns are the keys of the first event written to a file, and a header row is written
    then. A later event with a key that is not a column raises ``ValueError`` (the error policy
    applies); a missing key is written empty. The first event of the sink's life truncates its
    file, as BSPump did; ``rotate()`` starts over (truncate, new header) with the next event.

    Config:
        path: the output file (see ``get_file_name``).
        encoding: the file's text encoding.
        dialect, delimiter, doublequote, escapechar, lineterminator, quotechar, quoting,
        skipinitialspace, strict: ``csv`` writer parameters, BSPump's defaults (``escapechar``
            ``""`` means none).

    Example:
        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> target = pathlib.Path(tmp.name) / "out.csv"
        >>> sink = FileCSVSink(config={"path": str(target), "lineterminator": "\\n"})
        >>> sink.process({}, {"name": "Eva", "age": 31})
        >>> sink.flush()
        >>> target.read_text()
        'name,age\\nEva,31\\n'
        >>> sink.close()
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "encoding": "utf-8",
        "dialect": "excel",
        "delimiter": ",",
        "doublequote": True,
        "escapechar": "",
        "lineterminator": os.linesep,
        "quotechar": '"',
        "quoting": csv.QUOTE_MINIMAL,
        "skipinitialspace": False,
        "strict": False,
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._writers: dict[str, tuple[IO[str], csv.DictWriter[str]]] = {}
        self._columns: dict[str, list[str]] = {}
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        try:
            self.Dialect = csv.get_dialect(str(self.Config["dialect"]))
            csv.writer(_NullWriter(), dialect=self.Dialect, **self._writer_options())
        except (TypeError, csv.Error) as exc:
            raise ConfigError(f"{self._owner()}: invalid csv options: {exc}") from exc

    def _writer_options(self) -> dict[str, Any]:
        config = self.Config
        return {
            "delimiter": config["delimiter"],
            "doublequote": bool(config["doublequote"]),
            "escapechar": config["escapechar"] or None,
            "lineterminator": config["lineterminator"],
            "quotechar": config["quotechar"],
            "quoting": int(config["quoting"]),
            "skipinitialspace": bool(config["skipinitialspace"]),
            "strict": bool(config["strict"]),
        }

    def writer(self, f: IO[str], fieldnames: list[str]) -> csv.DictWriter[str]:
        """The ``csv.DictWriter`` for a file (BSPump's hook: override to customise)."""
        return csv.DictWriter(f, fieldnames, dialect=self.Dialect, **self._writer_options())

    def process(self, context: Context, event: Any) -> None:
        """Write ``event`` (a mapping) as a row of its file.

        Raises:
            ValueError: the event has a key that is not a column of its file.
            TypeError: the first event of a file is not a mapping.
        """
        path = self._target(context, event)
        f = self._files.get(path)
        entry = self._writers.get(path)
        if f is None or entry is None or entry[0] is not f:  # not open, or reopened
            columns = self._columns.get(path)
            fresh = columns is None
            if columns is None:
                if not isinstance(event, Mapping):
                    raise TypeError(
                        f"{self._owner()}: expects a mapping, got {type(event).__name__}"
                    )
                columns = [str(key) for key in event]
            mode = "w" if fresh else "a"
            f = open(path, mode, newline="", encoding=self.Config["encoding"])  # noqa: SIM115
            try:
                writer = self.writer(f, columns)
                if fresh:
                    writer.writeheader()
            except BaseException:
                f.close()
                raise
            self._columns[path] = columns
            self._files.add(path, f)
            entry = self._writers[path] = (f, writer)
        try:
            entry[1].writerow(event)  # an unknown key raises ValueError before writing
        except OSError as exc:
            self._files.broken(exc)
            raise

    def rotate(self) -> None:
        """Close the files (durably); the next event to each path truncates it and writes a new
        header (BSPump's ``rotate``).

        Raises:
            OSError: as ``flush``.
        """
        self.flush()
        self.close()
        self._columns.clear()
        self._writers.clear()


class _NullWriter:
    def write(self, data: str) -> int:
        return len(data)


class FileBlockSink(_FileSink):
    """Writes each event (``bytes``, or ``str`` as UTF-8) to its file (BSPump's
    ``FileBlockSink``): in ``wb`` mode the event replaces the file's content (one block per file,
    so override ``get_file_name`` to name a file per event), in ``ab`` mode it is appended.

    Config:
        path: the output file (see ``get_file_name``).
        mode: ``"wb"`` (replace) or ``"ab"`` (append).
        flags: comma-separated ``os.open`` flags: ``O_CREAT`` (create a missing file) and
            ``O_EXCL`` (refuse to overwrite an existing one); without ``O_CREAT`` a missing file
            is an error.

    Example:
        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> target = pathlib.Path(tmp.name) / "block.bin"
        >>> sink = FileBlockSink(config={"path": str(target)})
        >>> sink.process({}, b"first")
        >>> sink.process({}, b"second")
        >>> sink.flush()
        >>> target.read_bytes()
        b'second'
        >>> sink.close()
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"mode": "wb", "flags": "O_CREAT"}

    _FLAGS: ClassVar[Mapping[str, int]] = {"O_CREAT": os.O_CREAT, "O_EXCL": os.O_EXCL}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        mode = self.Config["mode"]
        if mode not in ("wb", "ab"):
            raise ConfigError(
                f"{self._owner()}: config key 'mode' must be 'wb' or 'ab', got "
                f"{config_value_repr('mode', mode)}"
            )
        flags = os.O_WRONLY | (os.O_TRUNC if mode == "wb" else os.O_APPEND)
        for name in str(self.Config["flags"]).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in self._FLAGS:
                raise ConfigError(
                    f"{self._owner()}: unknown flag {name!r} in config key 'flags' "
                    f"(known: {', '.join(self._FLAGS)})"
                )
            flags |= self._FLAGS[name]
        self._flags = flags

    def _open_fd(self, path: str, _flags: int) -> int:
        return os.open(path, self._flags, 0o666)  # the configured flags, not open()'s

    def process(self, context: Context, event: Any) -> None:
        """Write the event to its file.

        Raises:
            TypeError: the event is neither bytes-like nor text.
            OSError: the file cannot be written (missing without ``O_CREAT``, existing with
                ``O_EXCL``, no permission, disk full).
        """
        if isinstance(event, str):
            data = event.encode("utf-8")
        elif isinstance(event, bytes | bytearray | memoryview):
            data = bytes(event)
        else:
            raise TypeError(f"{self._owner()}: expects bytes or str, got {type(event).__name__}")
        path = self._target(context, event)
        replace = self.Config["mode"] == "wb"
        f = self._files.get(path)
        if f is None or replace:
            # Opened again for each event in "wb" mode: O_TRUNC replaces the content and
            # O_EXCL refuses a second block, as each event's own open did in BSPump.
            f = open(path, "wb" if replace else "ab", opener=self._open_fd)  # noqa: SIM115
            self._files.add(path, f)
        try:
            f.write(data)
        except OSError as exc:
            self._files.broken(exc)
            raise


class FileJSONLinesSink(_FileSink):
    """Writes each event as one line of JSON (orjson: UTF-8, compact) to its file.

    Config:
        path: the output file (see ``get_file_name``).
        mode: ``"a"`` appends to an existing file; ``"w"`` truncates it when the sink first
            writes to it.

    Raises (from ``process``):
        TypeError: the event holds something JSON cannot represent (orjson's rules: string keys,
            64-bit integers).

    Example:
        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> target = pathlib.Path(tmp.name) / "out.jsonl"
        >>> sink = FileJSONLinesSink(config={"path": str(target)})
        >>> sink.process({}, {"a": 1})
        >>> sink.process({}, [2, "b"])
        >>> sink.flush()
        >>> target.read_text()
        '{"a":1}\\n[2,"b"]\\n'
        >>> sink.close()
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"mode": "a"}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._opened_once: set[str] = set()
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        mode = self.Config["mode"]
        if mode not in ("a", "w"):
            raise ConfigError(
                f"{self._owner()}: config key 'mode' must be 'a' or 'w', got "
                f"{config_value_repr('mode', mode)}"
            )

    def process(self, context: Context, event: Any) -> None:
        """Append the event as a JSON line."""
        line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)  # fails before any I/O
        path = self._target(context, event)
        f = self._files.get(path)
        if f is None:
            truncate = self.Config["mode"] == "w" and path not in self._opened_once
            f = open(path, "wb" if truncate else "ab")  # noqa: SIM115 (closed by flush or close)
            self._files.add(path, f)
            self._opened_once.add(path)
        try:
            f.write(line)
        except OSError as exc:
            self._files.broken(exc)
            raise
