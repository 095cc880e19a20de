"""File sinks: CSV rows, raw blocks and JSON lines, each to a path from config or per event.

Rules:
1. The output path is ``get_file_name(context, event)``: the ``path`` config key unless a
   subclass overrides it (to split output by day, by source file, …).
2. ``flush()`` makes everything written so far durable: it flushes Python's buffers, fsyncs each
   file and its directory, and closes the files. The next event reopens its file for appending
   (a CSV file gets no second header), so a flush after each batch costs an ``open`` per file,
   and a pump that ends with the executor's final flush leaves no file open.
3. An event that cannot be written (wrong type, a CSV row with unknown columns, an I/O error) raises
   from ``process``: the pipeline's error policy handles it, never a silent drop.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar

import orjson

from pumpcore import ConfigError, Context, Sink

from ._common import fsync_directory

if TYPE_CHECKING:
    from pumpcore import Pipeline


class _FileSink(Sink):
    """Common parts: the output path, build-time checks, durable flushing."""

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"path": ""}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._dirty_dirs: set[str] = set()
        super().__init__(pipeline, id, config)
        self._apply_config()

    def reconfigure(self, *sections: Mapping[str, str]) -> None:
        """Resolve the configuration again (on joining a pipeline) and check it."""
        super().reconfigure(*sections)
        self._apply_config()

    def _owner(self) -> str:
        return f"{type(self).__name__} {self.Id!r}"

    def _apply_config(self) -> None:
        overridden = type(self).get_file_name is not _FileSink.get_file_name
        if self.Pipeline is not None and not self.Config["path"] and not overridden:
            raise ConfigError(
                f"{self._owner()}: config key 'path' is empty; set it or override get_file_name()"
            )

    def get_file_name(self, context: Context, event: Any) -> str:
        """The file ``event`` goes to (BSPump's hook): the ``path`` config key by default.

        Override it to route events to files of your choosing, e.g. one file per day.
        """
        return str(self.Config["path"])

    def _target(self, context: Context, event: Any) -> str:
        name = os.fspath(self.get_file_name(context, event))
        if not name:
            raise ValueError(f"{self._owner()}: get_file_name() returned an empty path")
        self._dirty_dirs.add(os.path.dirname(os.path.abspath(name)))
        return name

    def _sync_directories(self) -> None:
        for directory in sorted(self._dirty_dirs):
            fsync_directory(directory)
        self._dirty_dirs.clear()


def _sync_and_close(f: IO[Any]) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()


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
        self._open_files: dict[str, tuple[IO[str], csv.DictWriter[str]]] = {}
        self._columns: dict[str, list[str]] = {}
        super().__init__(pipeline, id, config)

    def _apply_config(self) -> None:
        super()._apply_config()
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
        entry = self._open_files.get(path)
        if entry is None:
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
            entry = self._open_files[path] = (f, writer)
        entry[1].writerow(event)

    def flush(self) -> None:
        """Flush, fsync and close every open file (rule 2)."""
        files, self._open_files = self._open_files, {}
        for f, _ in files.values():
            _sync_and_close(f)
        self._sync_directories()

    def rotate(self) -> None:
        """Close the files (durably); the next event to each path truncates it and writes a new
        header (BSPump's ``rotate``)."""
        self.flush()
        self._columns.clear()


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
        self._written: set[str] = set()
        super().__init__(pipeline, id, config)

    def _apply_config(self) -> None:
        super()._apply_config()
        mode = self.Config["mode"]
        if mode not in ("wb", "ab"):
            raise ConfigError(
                f"{self._owner()}: config key 'mode' must be 'wb' or 'ab', got {mode!r}"
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
        fd = os.open(path, self._flags, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self._written.add(path)

    def flush(self) -> None:
        """fsync every file written since the last flush, and their directories (rule 2)."""
        written, self._written = self._written, set()
        for path in sorted(written):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._sync_directories()


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
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"mode": "a"}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._open_files: dict[str, IO[bytes]] = {}
        self._opened_once: set[str] = set()
        super().__init__(pipeline, id, config)

    def _apply_config(self) -> None:
        super()._apply_config()
        mode = self.Config["mode"]
        if mode not in ("a", "w"):
            raise ConfigError(
                f"{self._owner()}: config key 'mode' must be 'a' or 'w', got {mode!r}"
            )

    def process(self, context: Context, event: Any) -> None:
        """Append the event as a JSON line."""
        line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)  # fails before any I/O
        path = self._target(context, event)
        f = self._open_files.get(path)
        if f is None:
            truncate = self.Config["mode"] == "w" and path not in self._opened_once
            mode = "wb" if truncate else "ab"
            f = self._open_files[path] = open(path, mode)  # noqa: SIM115 (closed by flush)
            self._opened_once.add(path)
        f.write(line)

    def flush(self) -> None:
        """Flush, fsync and close every open file (rule 2)."""
        files, self._open_files = self._open_files, {}
        for f in files.values():
            _sync_and_close(f)
        self._sync_directories()
