"""The file sources: lines, multi-line records, CSV rows, a whole JSON document, a whole file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pumpcore import ConfigError

from ._abc_source import FileABCSource

if TYPE_CHECKING:
    from pumpcore import Pipeline


def _strip_newline(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    return raw


class FileLineSource(FileABCSource):
    """Emits each line of each file, without its line terminator (``\\n`` or ``\\r\\n``).

    Each event's context is ``{"filename": <original name>, "offset": <byte offset just after
    the line>}`` (in the decompressed stream for compressed files). The offset is where reading
    would resume after this line; the executor's at-least-once contract will commit it once every
    event up to it is written, so a restart skips what was done.

    Config: those of ``FileABCSource`` (``mode = "r"`` decodes lines as text; an invalid byte
    sequence then fails the file).

    Example:
        >>> import pathlib, tempfile
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.log").write_bytes(b"one\\ntwo\\n")
        >>> source = FileLineSource(config={"path": str(folder / "*.log")})
        >>> p, sink = Pipeline("P"), ListSink(keep_contexts=True)
        >>> p.build(source, sink)
        >>> source.cycle()
        >>> sink.Events, [c["offset"] for c in sink.Contexts]
        ([b'one', b'two'], [4, 8])
        >>> sorted(path.name for path in folder.iterdir())
        ['a.log-processed']
        >>> tmp.cleanup()
    """

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Emit the lines of ``f``."""
        offset = 0
        for raw in f:
            offset += len(raw)
            self.process(self.decode(_strip_newline(raw)), {"filename": filename, "offset": offset})


class FileMultiLineSource(FileABCSource):
    """Joins lines into records: a line that begins with ``separator`` starts a new record, any
    other line continues the current one (BSPump's ``FileMultiLineSource``).

    Records are the lines joined with ``\\n``, without the final terminator. The first line of a
    file always starts a record. The context carries ``filename`` and the ``offset`` just after
    the record's last line.

    Args:
        separator: the fixed text at the start of a record's first line, e.g. ``"<"`` for syslog
            lines like ``<133>1 2018-03-24T02:37:01+00:00 machine program …``. May also be set
            with the ``separator`` config key.

    Example:
        >>> import pathlib, tempfile
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.log").write_bytes(b"<1> start\\n  more\\n<2> next\\n")
        >>> source = FileMultiLineSource(separator="<", config={"path": str(folder / "*")})
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build(source, sink)
        >>> source.cycle()
        >>> sink.Events
        [b'<1> start\\n  more', b'<2> next']
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"separator": ""}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        separator: str | bytes | None = None,
    ) -> None:
        self._separator_arg = separator
        super().__init__(pipeline, id, config)

    def _apply_config(self) -> None:
        super()._apply_config()
        separator: str | bytes = (
            self._separator_arg if self._separator_arg is not None else self.Config["separator"]
        )
        if isinstance(separator, str):
            separator = separator.encode(self.Encoding)
        self._separator = separator
        if self.Pipeline is not None and not separator:
            raise ConfigError(
                f"{self._owner()}: no separator; pass separator=... or set config 'separator'"
            )

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Emit the records of ``f``."""
        latch: list[bytes] = []
        offset = 0
        for raw in f:
            if latch and raw.startswith(self._separator):
                self._emit(filename, latch, offset)
                latch = []
            offset += len(raw)
            latch.append(_strip_newline(raw))
        if latch:
            self._emit(filename, latch, offset)

    def _emit(self, filename: str, lines: list[bytes], offset: int) -> None:
        self.process(self.decode(b"\n".join(lines)), {"filename": filename, "offset": offset})


def _as_bool(owner: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{owner}: config key {key!r} expects a boolean, got {value!r}")


def _as_quoting(owner: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().upper().startswith("QUOTE_"):
        quoting = getattr(csv, value.strip().upper(), None)
        if isinstance(quoting, int):
            return quoting
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{owner}: config key 'quoting' expects 0-3 or a csv.QUOTE_* name, got {value!r}"
        ) from None


class FileCSVSource(FileABCSource):
    """Emits each row of each CSV file as a dict (``csv.DictReader``), with ``filename`` in the
    context.

    Args:
        fieldnames: the column names; None takes them from the file's first row (BSPump's
            argument; the ``fieldnames`` config key, a list or a comma-separated string, does
            the same).

    Config:
        dialect: a ``csv`` dialect name (``excel``, ``excel-tab``, ``unix``).
        delimiter, doublequote, escapechar, lineterminator, quotechar, quoting,
        skipinitialspace, strict: ``csv`` format parameters; unset (None) ones come from the
            dialect. ``quoting`` takes 0-3 or a name such as ``QUOTE_ALL``.
        mode: must be text (``"r"``), the default here.

    With ``strict`` on, malformed quoting fails the file (``-failed``); bytes invalid in the
    encoding always do.

    Example:
        >>> import pathlib, tempfile
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.csv").write_text("name;age\\nEva;31\\n")
        >>> source = FileCSVSource(config={"path": str(folder / "*.csv"), "delimiter": ";"})
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build(source, sink)
        >>> source.cycle()
        >>> sink.Events
        [{'name': 'Eva', 'age': '31'}]
        >>> tmp.cleanup()
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "mode": "r",
        "fieldnames": None,
        "dialect": "excel",
        "delimiter": None,
        "doublequote": None,
        "escapechar": None,
        "lineterminator": None,
        "quotechar": None,
        "quoting": None,
        "skipinitialspace": None,
        "strict": None,
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        fieldnames: Iterable[str] | None = None,
    ) -> None:
        self._fieldnames_arg = list(fieldnames) if fieldnames is not None else None
        super().__init__(pipeline, id, config)

    def _apply_config(self) -> None:
        super()._apply_config()
        owner = self._owner()
        config = self.Config
        if not self.TextMode:
            raise ConfigError(f"{owner}: CSV is read as text; config key 'mode' must be 'r'")
        try:
            self.Dialect = csv.get_dialect(str(config["dialect"]))
        except csv.Error as exc:
            raise ConfigError(f"{owner}: unknown csv dialect {config['dialect']!r}") from exc
        options: dict[str, Any] = {}
        for key in ("delimiter", "escapechar", "lineterminator", "quotechar"):
            if config[key] is not None:
                options[key] = str(config[key])
        for key in ("doublequote", "skipinitialspace", "strict"):
            if config[key] is not None:
                options[key] = _as_bool(owner, key, config[key])
        if config["quoting"] is not None:
            options["quoting"] = _as_quoting(owner, config["quoting"])
        try:  # let csv check the combination now, at build time
            csv.reader([], dialect=self.Dialect, **options)
        except (TypeError, csv.Error) as exc:
            raise ConfigError(f"{owner}: invalid csv options {options!r}: {exc}") from exc
        self._options = options
        names = self._fieldnames_arg
        if names is None and config["fieldnames"] is not None:
            given = config["fieldnames"]
            names = [n.strip() for n in given.split(",")] if isinstance(given, str) else list(given)
        #: The column names, or None to read them from each file's first row.
        self.FieldNames = names

    def reader(self, f: Iterable[str]) -> csv.DictReader[str]:
        """The ``csv.DictReader`` over lines of text (BSPump's hook: override to customise)."""
        return csv.DictReader(f, fieldnames=self.FieldNames, dialect=self.Dialect, **self._options)

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Emit the rows of ``f``."""
        # Each raw line keeps its terminator, as a file opened with newline="" would give it:
        # csv needs them to read quoted fields that span lines.
        lines = (raw.decode(self.Encoding) for raw in f)
        for row in self.reader(lines):
            self.process(row, {"filename": filename})


class FileJSONSource(FileABCSource):
    """Emits each file's whole JSON document as one event, with ``filename`` in the context.

    The bytes are parsed with the standard ``json`` (UTF-8/16/32 detected), or decoded with
    ``encoding`` first when one is set. Invalid JSON fails the file (``-failed``).
    """

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Parse ``f`` and emit the document."""
        data = f.read()
        document = json.loads(data.decode(self.Encoding) if self.Config["encoding"] else data)
        self.process(document, {"filename": filename})


class FileBlockSource(FileABCSource):
    """Emits each file's whole content as one event (``bytes``, or ``str`` in ``"r"`` mode),
    with ``filename`` in the context."""

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Emit the content of ``f``."""
        self.process(self.decode(f.read()), {"filename": filename})
