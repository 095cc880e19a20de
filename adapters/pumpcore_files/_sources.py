"""The file sources: lines, multi-line records, CSV rows, a whole JSON document, a whole file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, repeat
from typing import TYPE_CHECKING, Any, ClassVar

from pumpcore import ConfigError, config_value_repr
from pumpcore.config import ConfigRule, one_of, optional

from ._abc_source import FileABCSource

if TYPE_CHECKING:
    from pumpcore import Pipeline


# Bytes asked of a file at once by ``FileLineSource``.
_BLOCK = 1 << 16
_PLUS_ONE = (1).__add__  # a line's length with its "\n", without a Python call per line


def _chunk(
    lines: list[bytes], offsets: list[int], encoding: str | None
) -> Iterator[tuple[list[Any], list[int]]]:
    """``lines`` decoded (as they are when ``encoding`` is None) with their offsets. When a line
    does not decode, the lines before it are yielded first, then the error is raised (rule 6 of
    ``FileABCSource``)."""
    if encoding is None:
        yield lines, offsets
        return
    try:
        events = list(map(bytes.decode, lines, repeat(encoding)))
    except UnicodeDecodeError:
        events = []
        for line in lines:
            try:
                events.append(line.decode(encoding))
            except UnicodeDecodeError:
                if events:
                    yield events, offsets[: len(events)]
                raise
    yield events, offsets


def _strip_newline(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    return raw


class FileLineSource(FileABCSource):
    """Emits each line of each file, without its line terminator (``\\n`` or ``\\r\\n``).

    Each event's context is ``{"filename": <original name>, "offset": <byte offset just after
    the line>}`` (in the decompressed stream for compressed files); its position encodes the
    same offset (see ``FileABCSource``). The offset is where reading resumes after this line:
    once the executor acknowledges it (every event up to it written), it is saved, so a restart
    skips what was done. Resuming seeks straight to the saved offset.

    Config: those of ``FileABCSource`` (``mode = "r"`` decodes lines as text; an invalid byte
    sequence then fails the file).

    Example (the executor's calls made by hand; ``pumpcore_executors.run`` makes them for you):
        >>> import pathlib, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.log").write_bytes(b"one\\ntwo\\n")
        >>> source = FileLineSource(config={"path": str(folder / "*.log"), "watch": False})
        >>> source.open()
        >>> batch = source.read(10)  # a Batch: events, positions and contexts as columns
        >>> [(event, context["offset"]) for event, context in zip(batch.events, batch.contexts)]
        [(b'one', 4), (b'two', 8)]
        >>> sorted(path.name for path in folder.iterdir())  # hidden: the saved offset
        ['.a.log.pumpcore-offset', 'a.log-locked']
        >>> source.acknowledge(batch.positions)
        >>> sorted(path.name for path in folder.iterdir())
        ['a.log-processed']
        >>> source.read(10) is None  # watch is off: nothing more, the input ended
        True
        >>> source.close()
        >>> tmp.cleanup()
    """

    SeekToResume: ClassVar[bool] = True

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """The lines of ``f`` with the offset just after each."""
        for events, offsets in self._line_chunks(f):
            yield from zip(events, offsets, strict=True)

    def iter_chunks(
        self, filename: str, f: io.BufferedIOBase
    ) -> Iterator[tuple[Sequence[Any], Sequence[int]]]:
        """The lines of ``f`` a block at a time, with the offset just after each (what a
        subclass's ``iter_records`` yields, when it overrides that hook)."""
        if type(self).iter_records is not FileLineSource.iter_records:
            return super().iter_chunks(filename, f)
        return self._line_chunks(f)

    def _line_chunks(self, f: io.BufferedIOBase) -> Iterator[tuple[list[Any], list[int]]]:
        """The lines of ``f`` a block at a time.

        The hot loop of every file pump, so the per-line work is done in C: a block is split at
        ``\\n``, the offsets are a running sum of the line lengths, and text is decoded with
        ``map``. Only blocks holding a ``\\r`` take a Python pass (to strip ``\\r\\n``).
        """
        offset = f.tell()  # not 0 when resuming: the base class seeks to the saved offset
        encoding = self.Encoding if self.TextMode else None
        held: list[bytes] = []  # the start of a line that continues in the next block
        while block := f.read1(_BLOCK):
            end = block.rfind(b"\n")
            if end < 0:
                held.append(block)
                continue
            head = block[:end]
            if held:
                held.append(head)
                head = b"".join(held)
                held = []
            if end + 1 < len(block):
                held.append(block[end + 1 :])
            lines = head.split(b"\n")
            offsets = list(accumulate(map(_PLUS_ONE, map(len, lines)), initial=offset))
            del offsets[0]
            offset = offsets[-1]
            if b"\r" in head:
                lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
            yield from _chunk(lines, offsets, encoding)
        if held:  # a last line without a terminator
            line = b"".join(held)
            yield from _chunk([line], [offset + len(line)], encoding)


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
        >>> import pumpcore_executors
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.log").write_bytes(b"<1> start\\n  more\\n<2> next\\n")
        >>> config = {"path": str(folder / "*"), "watch": False}
        >>> source = FileMultiLineSource(separator="<", config=config)
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build(source, sink)
        >>> _ = pumpcore_executors.run(p)
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

    def apply_config(self) -> None:
        super().apply_config()
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

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """The records of ``f``; a record's offset is just after its last line."""
        latch: list[bytes] = []
        offset = 0
        for raw in f:
            if latch and raw.startswith(self._separator):
                yield self.decode(b"\n".join(latch)), offset
                latch = []
            offset += len(raw)
            latch.append(_strip_newline(raw))
        if latch:
            yield self.decode(b"\n".join(latch)), offset


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _as_bool(value: Any) -> bool:
    """A flag given as a bool or INI text (``_BOOLEAN`` accepted it)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


def _as_quoting(value: Any) -> int:
    """``quoting`` as ``csv``'s number (``_QUOTING`` accepted it)."""
    if isinstance(value, str) and value.strip().upper().startswith("QUOTE_"):
        return int(getattr(csv, value.strip().upper()))
    return int(value)


def _is_quoting(value: Any) -> bool:
    try:
        return _as_quoting(value) >= 0  # csv checks the upper bound (apply_config)
    except (AttributeError, TypeError, ValueError):
        return False


_BOOLEAN = optional(
    ConfigRule(
        "a boolean (true/false, yes/no, on/off, 1/0)",
        lambda v: isinstance(v, bool) or str(v).strip().lower() in _TRUE + _FALSE,
    )
)
_QUOTING = optional(ConfigRule("0-3 or a csv.QUOTE_* name", _is_quoting))


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
        >>> import pumpcore_executors
        >>> from pumpcore import Pipeline
        >>> from pumpcore.common import ListSink
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = pathlib.Path(tmp.name)
        >>> _ = (folder / "a.csv").write_text("name;age\\nEva;31\\n")
        >>> config = {"path": str(folder / "*.csv"), "delimiter": ";", "watch": False}
        >>> source = FileCSVSource(config=config)
        >>> p, sink = Pipeline("P"), ListSink()
        >>> p.build(source, sink)
        >>> _ = pumpcore_executors.run(p)
        >>> sink.Events
        [{'name': 'Eva', 'age': '31'}]
        >>> tmp.cleanup()
    """

    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "mode": one_of("r", "rt"),  # CSV is text
        "dialect": ConfigRule(
            "a csv dialect name", lambda v: isinstance(v, str) and v in csv.list_dialects()
        ),
        "doublequote": _BOOLEAN,
        "skipinitialspace": _BOOLEAN,
        "strict": _BOOLEAN,
        "quoting": _QUOTING,
    }

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

    def apply_config(self) -> None:
        super().apply_config()
        owner = self._owner()
        config = self.Config
        self.Dialect = csv.get_dialect(str(config["dialect"]))
        options: dict[str, Any] = {}
        for key in ("delimiter", "escapechar", "lineterminator", "quotechar"):
            if config[key] is not None:
                options[key] = str(config[key])
        for key in ("doublequote", "skipinitialspace", "strict"):
            if config[key] is not None:
                options[key] = _as_bool(config[key])
        if config["quoting"] is not None:
            options["quoting"] = _as_quoting(config["quoting"])
        try:  # let csv check the combination now, at build time
            csv.reader([], dialect=self.Dialect, **options)
        except (TypeError, csv.Error) as exc:
            shown = ", ".join(f"{k!r}: {config_value_repr(k, v)}" for k, v in options.items())
            raise ConfigError(f"{owner}: invalid csv options {{{shown}}}: {exc}") from exc
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

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """The rows of ``f``; a row's offset is just after its last line."""
        offset = 0

        def lines() -> Iterator[str]:
            # Each raw line keeps its terminator, as a file opened with newline="" would give
            # it: csv needs them to read quoted fields that span lines. csv pulls lines only as
            # it needs them, so once a row is out, ``offset`` is just after its last line.
            nonlocal offset
            encoding = self.Encoding
            for raw in f:
                offset += len(raw)
                yield raw.decode(encoding)

        for row in self.reader(lines()):
            yield row, offset


class FileJSONSource(FileABCSource):
    """Emits each file's whole JSON document as one event, with ``filename`` in the context.

    The bytes are parsed with the standard ``json`` (UTF-8/16/32 detected), or decoded with
    ``encoding`` first when one is set. Invalid JSON fails the file (``-failed``).
    """

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """The document of ``f``, its offset the length of the file."""
        data = f.read()
        document = json.loads(data.decode(self.Encoding) if self.Config["encoding"] else data)
        yield document, len(data)


class FileBlockSource(FileABCSource):
    """Emits each file's whole content as one event (``bytes``, or ``str`` in ``"r"`` mode),
    with ``filename`` in the context."""

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """The content of ``f``, its offset the length of the file."""
        data = f.read()
        yield self.decode(data), len(data)
