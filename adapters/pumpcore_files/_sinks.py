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
6. **A sink appends, and starts at a record boundary.** What earlier runs wrote was acknowledged
   (their sources will not replay it), so no sink erases it on start. A crash (SIGKILL, power
   loss) or a full disk can leave the last record half written; the first time a sink opens a
   file it cuts it back to just after its last record terminator, so that nothing is appended
   onto a torn record: a JSON line or CSV row ends with its line terminator (a CSV terminator
   inside a quoted field ends nothing), an appended block with the sink's ``terminator``. The
   part cut off was never acknowledged: its events are replayed.
7. **A failed write is never acknowledged and leaves no partial record.** When a write, flush
   or fsync fails (ENOSPC, EIO), the file is closed and cut back to its size at the last
   successful flush, and ``flush`` raises an ``OSError`` naming the sink, the file and the
   errno: the executor then poisons the sources feeding the sink, which acknowledge nothing
   more in this run, and a restart replays from their last acknowledged position. Later
   events reopen the file and append after the cut.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar

import orjson

from pumpcore import BlockingSink, ConfigError, Context
from pumpcore.config import ConfigRule, in_range, one_of

from ._common import SINK_LINE_CODEC, fsync_directory

if TYPE_CHECKING:
    from pumpcore import Pipeline


def _write_error(owner: str, path: str, exc: OSError) -> OSError:
    """The error a failed write or sync raises: it names the sink, the file and the errno."""
    # The path goes into the message (a report shows repr(), which leaves ``filename`` out).
    error = OSError(exc.errno, f"{owner} cannot write {path!r}: {exc.strerror or exc}")
    error.filename = path
    error.__cause__ = exc
    return error


def _last_boundary(fd: int, size: int, terminator: bytes, quote: bytes | None) -> int:
    """The offset just after the last complete record of an open file (rule 6).

    Without ``quote`` it is after the last ``terminator``, found by reading backwards. With a
    CSV ``quote``, a terminator inside a quoted field ends no record: the file is read forwards
    counting quote characters (a doubled quote counts two, so the parity tells whether a
    position is inside a quoted field) and the last terminator at even parity wins.
    """
    width = len(terminator)
    if quote is None:
        end = size
        while end > 0:
            start = max(0, end - _CHUNK)
            # width - 1 bytes past ``end`` find a terminator that starts before it.
            chunk = os.pread(fd, min(size, end + width - 1) - start, start)
            found = chunk.rfind(terminator)
            if found >= 0:
                return start + found + width
            end = start
        return 0
    parity, pos, last = 0, 0, 0
    while pos < size:
        # Chunks overlap by width - 1 bytes, so a terminator across their border is seen.
        chunk = os.pread(fd, min(_CHUNK + width - 1, size - pos), pos)
        if not chunk:
            break
        step = min(_CHUNK, len(chunk))
        at_end = parity + chunk.count(quote, 0, step)
        after, right = 0, step  # quotes in chunk[found:step]
        found = chunk.rfind(terminator, 0, step + width - 1)
        while found >= 0:
            after += chunk.count(quote, found, right)
            right = found
            if (at_end - after) % 2 == 0:
                last = pos + found + width
                break
            found = chunk.rfind(terminator, 0, found + width - 1)
        parity = at_end % 2
        pos += step
    return last


_CHUNK = 1 << 20


class _OpenFiles:
    """A sink's open files by path, least recently used first (rules 2, 3 and 6)."""

    def __init__(self) -> None:
        self.files: OrderedDict[str, IO[Any]] = OrderedDict()
        self.limit = 128
        # Per path, the size of the file up to its last durable record boundary: where a
        # failed write is cut back to (rule 7).
        self.durable: dict[str, int] = {}
        self.recovered = 0  # files cut back to a record boundary when first opened (rule 6)
        self._used: set[str] = set()
        self._unsynced: set[str] = set()
        self._dirs: set[str] = set()
        self.errors: list[tuple[str, OSError]] = []

    def get(self, path: str) -> IO[Any] | None:
        f = self.files.get(path)
        if f is not None:
            self.files.move_to_end(path)
            self._used.add(path)
        return f

    def recover(self, path: str, terminator: bytes, quote: bytes | None = None) -> int:
        """Rule 6: cut an existing ``path`` back to its last complete record; its size then."""
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            self.durable[path] = 0
            return 0
        try:
            size = os.fstat(fd).st_size
            boundary = _last_boundary(fd, size, terminator, quote) if terminator else size
            if boundary < size:
                os.ftruncate(fd, boundary)
                os.fsync(fd)
                self.recovered += 1
        finally:
            os.close(fd)
        self.durable[path] = boundary
        return boundary

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
            self.broken(path, exc)  # rule 4: the next flush raises it

    def broken(self, path: str, exc: OSError) -> None:
        """A write to ``path`` failed: bytes of earlier events may be lost with it, and a part
        of a record may have reached the file (rules 4 and 7)."""
        self.errors.append((path, exc))
        f = self.files.pop(path, None)
        if f is not None:
            _close_quietly(f)  # may write more of its buffer: the cut comes after
        self._unsynced.discard(path)
        self._used.discard(path)
        durable = self.durable.get(path)
        if durable is None:
            return
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.ftruncate(fd, durable)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as cut:
            # Left torn: the next sink to open the file cuts it (rule 6); nothing written
            # since the last flush is acknowledged.
            self.errors.append((path, cut))

    def sync(self, owner: str) -> None:
        """Rule 2: make everything durable, close idle files, raise the first failure."""
        for path, f in list(self.files.items()):
            try:
                f.flush()
                os.fsync(f.fileno())
                size = os.fstat(f.fileno()).st_size
            except OSError as exc:
                self.broken(path, exc)
                continue
            self.durable[path] = size
            if path not in self._used:
                del self.files[path]
                f.close()
        for path in sorted(self._unsynced):
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                    size = os.fstat(fd).st_size
                finally:
                    os.close(fd)
            except OSError as exc:
                self.broken(path, exc)
                continue
            self.durable[path] = size
        for directory in sorted(self._dirs):
            fsync_directory(directory)
        self._used.clear()
        self._unsynced.clear()
        self._dirs.clear()
        errors, self.errors = self.errors, []
        if errors:
            where, first = errors[0]
            raise _write_error(owner, where, first)

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
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"max_open_files": in_range(1, 2**20)}

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
        self._files.limit = int(self.Config["max_open_files"])

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
        self._files.sync(self._owner())

    def close(self) -> None:
        """Close every file (rule 5)."""
        self._files.close_all()


class FileCSVSink(_FileSink):
    """Writes dict events as CSV rows (BSPump's ``FileCSVSink``).

    Rows are appended (rule 6): a restarted pump keeps what earlier runs wrote and acknowledged.
    A new or empty file gets a header row, the keys of the first event written to it; a file
    that has rows already keeps its header, which gives the columns. A later event with a key
    that is not a column raises ``ValueError`` (the error policy applies); a missing key is
    written empty. ``rotate()`` starts over (truncate, new header) with the next event; that
    erases acknowledged rows, so call it only once they were taken elsewhere. The record
    boundary a restart cuts back to is the last ``lineterminator`` outside a quoted field
    (quotes are counted from the start of the file, which is read once: the doubled-quote
    dialects this sink writes by default keep the count exact, ``doublequote=False`` with an
    ``escapechar`` does not).

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

    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        # A restart finds the last record boundary by the terminator's bytes (rule 6).
        "encoding": SINK_LINE_CODEC,
        "dialect": ConfigRule(
            "a csv dialect name", lambda v: isinstance(v, str) and v in csv.list_dialects()
        ),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._writers: dict[str, tuple[IO[str], csv.DictWriter[str]]] = {}
        self._columns: dict[str, list[str]] = {}
        self._rotated: set[str] = set()
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
            header = False
            if columns is None:
                columns, header = self._start(path, event)
            f = open(path, "a", newline="", encoding=self.Config["encoding"])  # noqa: SIM115
            try:
                writer = self.writer(f, columns)
                if header:
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
            self._files.broken(path, exc)
            raise _write_error(self._owner(), path, exc) from exc

    def _start(self, path: str, event: Any) -> tuple[list[str], bool]:
        """The columns of ``path`` when this sink first writes to it, and whether a header is
        due: after ``rotate`` the file is truncated; otherwise it is cut back to its last
        complete row (rule 6) and, unless that leaves it empty, its header gives the columns."""
        encoding = self.Config["encoding"]
        if path in self._rotated:
            self._rotated.discard(path)
            with open(path, "w", encoding=encoding):
                pass
            self._files.durable[path] = 0
            size = 0
        else:
            quoting = int(self.Config["quoting"])
            quote = None if quoting == csv.QUOTE_NONE else str(self.Config["quotechar"])
            size = self._files.recover(
                path,
                str(self.Config["lineterminator"]).encode(encoding),
                quote.encode(encoding) if quote else None,
            )
        if size:
            with open(path, newline="", encoding=encoding) as existing:
                row = next(csv.reader(existing, dialect=self.Dialect, **self._reader_options()))
            return row, False
        if not isinstance(event, Mapping):
            raise TypeError(f"{self._owner()}: expects a mapping, got {type(event).__name__}")
        return [str(key) for key in event], True

    def _reader_options(self) -> dict[str, Any]:
        options = self._writer_options()
        del options["lineterminator"]  # the reader recognises every line ending
        return options

    def rotate(self) -> None:
        """Close the files (durably); the next event to each path truncates it and writes a new
        header (BSPump's ``rotate``).

        Raises:
            OSError: as ``flush``.
        """
        self.flush()
        self.close()
        self._rotated.update(self._columns)
        self._columns.clear()
        self._writers.clear()


class _NullWriter:
    def write(self, data: str) -> int:
        return len(data)


_FLAGS: Mapping[str, int] = {"O_CREAT": os.O_CREAT, "O_EXCL": os.O_EXCL}


def _flag_names(value: object) -> list[str]:
    """The flag names of ``FileBlockSink``'s ``flags`` key (``"O_CREAT, O_EXCL"``)."""
    return [name.strip() for name in str(value).split(",") if name.strip()]


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
        terminator: text (written as UTF-8) ending each block, ``""`` for none. It is the record
            boundary of ``ab`` mode (rule 6): each block is written followed by it, and the
            first time the sink opens a file it cuts it back to just after its last
            terminator, so a block torn by a crash or a full disk is removed (and replayed)
            instead of being glued to the next one. Choose a terminator the blocks never
            contain (``"\\n"`` for lines). Without one, the sink cannot tell a torn block:
            an ``ab`` file is then crash-safe only up to whole files. In ``wb`` mode a file
            holds one block; a torn one is replaced when its event is replayed.

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

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "mode": "wb",
        "flags": "O_CREAT",
        "terminator": "",
    }

    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "mode": one_of("wb", "ab"),
        "flags": ConfigRule(
            f"a comma-separated list of {', '.join(_FLAGS)}",
            lambda v: all(name in _FLAGS for name in _flag_names(v)),
        ),
    }

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
        flags = os.O_WRONLY | (os.O_TRUNC if mode == "wb" else os.O_APPEND)
        for name in _flag_names(self.Config["flags"]):
            flags |= _FLAGS[name]
        self._flags = flags
        self._terminator = str(self.Config["terminator"]).encode("utf-8")

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
        data += self._terminator
        f = self._files.get(path)
        if f is None or replace:
            if replace:
                self._files.durable[path] = 0
            elif path not in self._files.durable:
                self._files.recover(path, self._terminator)  # rule 6
            # Opened again for each event in "wb" mode: O_TRUNC replaces the content and
            # O_EXCL refuses a second block, as each event's own open did in BSPump.
            f = open(path, "wb" if replace else "ab", opener=self._open_fd)  # noqa: SIM115
            self._files.add(path, f)
        try:
            f.write(data)
        except OSError as exc:
            self._files.broken(path, exc)
            raise _write_error(self._owner(), path, exc) from exc


class FileJSONLinesSink(_FileSink):
    """Writes each event as one line of JSON (orjson: UTF-8, compact) to its file.

    Config:
        path: the output file (see ``get_file_name``).
        mode: ``"a"`` appends to an existing file, cut back to its last complete line first
            (rule 6); ``"w"`` truncates it when the sink first writes to it, which erases what
            earlier runs wrote and acknowledged: not for a pump that may restart.

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
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"mode": one_of("a", "w")}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._opened_once: set[str] = set()
        super().__init__(pipeline, id, config)

    def process(self, context: Context, event: Any) -> None:
        """Append the event as a JSON line."""
        line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)  # fails before any I/O
        path = self._target(context, event)
        f = self._files.get(path)
        if f is None:
            first = path not in self._opened_once
            truncate = self.Config["mode"] == "w" and first
            if truncate:
                self._files.durable[path] = 0
            elif first:
                self._files.recover(path, b"\n")  # rule 6
            f = open(path, "wb" if truncate else "ab")  # noqa: SIM115 (closed by flush or close)
            self._files.add(path, f)
            self._opened_once.add(path)
        try:
            f.write(line)
        except OSError as exc:
            self._files.broken(path, exc)
            raise _write_error(self._owner(), path, exc) from exc
