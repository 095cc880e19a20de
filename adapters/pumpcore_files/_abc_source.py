"""FileABCSource: BSPump's protocol for reading files that land in a directory, at least once.

The source is a ``BlockingSource``: the executor calls ``read`` and ``acknowledge`` in a worker
thread (inline under the sync executor). Each event's position is one int, ``serial << 48 |
offset``: the serial this source gave the file when it opened it, and the byte offset just after
the event's record, in the decompressed stream (an int costs a third of a ``(filename, offset)``
tuple per record, and the garbage collector never scans it; the context names the file).
File offsets are the acknowledgement position, so a restarted pump resumes a half-read file
without loss.

Rules (BSPump's, kept; differences are marked):
1. ``path`` is a glob, or several joined by ``os.pathsep``; ``include``/``exclude`` are further
   globs matched against the whole path (``exclude`` wins). Names ending in ``-locked``,
   ``-failed`` or ``-processed`` are never taken as new files, nor are offset state files
   (``OffsetStore.is_state_file``). (New.) ``**`` enters each folder once, so symlink loops
   end (``_glob``). Every other file found is read, or counted in ``files_failed`` with its
   reason reported: one whose name is too long to carry the ``-locked`` / ``-processed``
   marks fails before it is touched, instead of failing to rename at every scan.
2. A file is locked by renaming it to ``<name>-locked`` before it is read; if the rename finds the
   file gone, another process took it and it is skipped. If ``<name>-locked`` exists and cannot
   be resumed (rule 5), the new file is not read and this is reported once, rather than
   overwriting the locked one.
3. ``.gz``, ``.bz2``, ``.xz`` and ``.lzma`` files are decompressed transparently.
4. (New.) Acknowledged offsets are saved durably per file (see ``_offsets``), at a bounded
   rate: each save is a write and two fsyncs, too dear for every commit of a fast pipeline. A
   file's offset is saved when it is locked, then on an acknowledgement at least
   ``offset_commit_interval`` seconds after its last save or ``offset_commit_every`` records
   since it, always before the file is post-processed, and on ``close``. A crash therefore
   re-reads at most what was acknowledged since the last save: the records of one interval, at
   most ``offset_commit_every`` (at-least-once; ``offset_commit_interval = 0`` saves on every
   acknowledgement). A file is
   post-processed only once it was read to the end *and* every record in it was acknowledged;
   then ``post`` decides: ``move`` (the default) renames it to ``<name>-processed`` (into
   ``move_destination`` if set), ``delete`` removes it, ``noop`` renames it back. Unlike BSPump, a
   ``noop`` file is remembered with its modification time and size and not read again while
   both are unchanged, so periodic scans do not emit it twice.
5. (New.) Restart: a ``-locked`` file with a matching saved offset and no live owner (nobody
   holds its ``flock``, rule 8) is resumed from that offset; records ending at or before it are
   not emitted again. Only the tail read after the last acknowledgement is read twice.
6. A read error (unreadable, corrupt compression, invalid encoding, unparseable) renames the file
   to ``<name>-failed`` (``noop``: back to its name, remembered as read) and ``read`` raises a
   ``FileReadError``: the pipeline's error policy decides, and under the soft policy the other
   files go on at once (``retry_delay`` defaults to 0 here: a bad file is not a broken source).
   Events read before the error are returned first; the error is raised by the next ``read``.
7. (New.) Scanning: ``read`` takes files in the order a scan listed them (each glob sorted,
   resumable files first); when none is left it scans again. Finding nothing new, it returns
   ``[]`` and the executor reads again after ``poll_interval`` (watching the directory, like
   BSPump with a periodic trigger); with ``watch`` off it returns None instead, which ends the
   input: a finite run that reads what is there.
8. (New.) While a file waits for acknowledgements its ``-locked`` file stays open with an
   exclusive ``flock`` (POSIX), which is how a starting pump tells a file whose owner died from
   one a live pump is reading. At most ``max_open_files`` are held; beyond that the oldest fully
   read one is closed (still locked by name): a second pump starting meanwhile might resume it,
   which gives duplicates, never loss. Without ``fcntl`` only the first scan resumes files.
9. ``close`` saves the acknowledged offsets not saved yet and leaves unfinished files
   ``-locked`` with them (counted as
   interrupted); the next run resumes them. ``read`` and ``acknowledge`` may run in two worker
   threads at once (executors commit while a read is in progress), so they share a lock.
"""

from __future__ import annotations

import bisect
import bz2
import errno
import fnmatch
import gzip
import io
import itertools
import logging
import lzma
import os
import shutil
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Generator, Iterator, Mapping, Sequence
from itertools import repeat
from operator import add, rshift
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import BlockingSource, ConfigError
from pumpcore.config import ConfigRule, at_least, in_range, one_of
from pumpcore.lowlevel import Batch

from ._common import LINE_CODEC, fsync_directory
from ._errors import FileReadError
from ._glob import iglob
from ._offsets import NAME_MAX, OffsetStore, SavedOffset

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.files")

_LOCKED = "-locked"
_BUFFER = 1 << 16
# Records per chunk grouped from ``iter_records`` (FileABCSource.iter_chunks).
_CHUNK = 256
_MARKERS = (_LOCKED, "-failed", "-processed")
_POST = ("move", "delete", "noop")


@attrs.frozen
class FileSourceStatistics:
    """What a file source did so far.

    Attributes:
        files_processed: files read to the end, fully acknowledged and post-processed.
        files_failed: files that could not be read (renamed ``-failed``, or back for ``noop``),
            locked, or post-processed.
        files_interrupted: files left ``-locked`` with a saved offset when the source closed.
        files_resumed: ``-locked`` files taken up again from their saved offset.
        offset_writes: offsets saved (each a write and two fsyncs; rule 4 bounds their rate).
    """

    files_processed: int
    files_failed: int
    files_interrupted: int
    files_resumed: int
    offset_writes: int


_Chunk = tuple[Sequence[Any], Sequence[int], Sequence[dict[str, Any]]]
"""Records of one file: events, positions (``serial << 48 | offset``) and contexts, as columns."""

_OFFSET_BITS = 48
"""Bits of a position that hold the offset (256 TiB); the file's serial is above them."""
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1


class _Columns:
    """The columns of the ``Batch`` a read returns, filled a chunk at a time."""

    __slots__ = ("contexts", "events", "positions")

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.positions: list[int] = []
        self.contexts: list[dict[str, Any]] = []

    def add(self, chunk: _Chunk) -> None:
        self.events.extend(chunk[0])
        self.positions.extend(chunk[1])
        self.contexts.extend(chunk[2])


class _File:
    """A file this source locked and has not finished: its reader and acknowledgement state."""

    __slots__ = (
        "acked",
        "carry",
        "end",
        "locked",
        "name",
        "raw",
        "read_to",
        "reader",
        "records",
        "resume",
        "saved",
        "saved_at",
        "serial",
        "signature",
        "unsaved",
    )

    def __init__(
        self, name: str, raw: io.BufferedReader, acked: int, signature: tuple[int, int]
    ) -> None:
        self.name = name
        self.locked = name + _LOCKED
        #: Set when its records are opened (``FileABCSource._open_records``): the upper part
        #: of its positions.
        self.serial = 0
        #: The open ``-locked`` file; holds the flock until the file is finished (rule 8).
        self.raw: io.BufferedReader | None = raw
        #: The locked file's (mtime ns, size) when it was locked, saved with each offset.
        self.signature = signature
        self.reader: io.BufferedIOBase | None = None
        self.records: Generator[_Chunk, None, None] | None = None
        #: What is left of a chunk ``read`` took only part of.
        self.carry: _Chunk | None = None
        #: Highest acknowledged offset.
        self.acked = acked
        #: The offset saved durably last, when (``time.monotonic()``), and how many records
        #: were acknowledged since (rule 4).
        self.saved = acked
        self.saved_at = float("-inf")
        self.unsaved = 0
        #: Records ending at or before this offset were acknowledged by an earlier run.
        self.resume = acked
        #: Offset just after the last record emitted.
        self.read_to = acked
        #: ``read_to`` once the reader reached the end of the file.
        self.end: int | None = None

    def done(self) -> bool:
        return self.end is not None and self.acked >= self.end


def _decompressed(raw: io.BufferedReader, name: str) -> io.BufferedIOBase:
    """A reader of ``raw`` decompressing by the extension of ``name`` (closing it leaves ``raw``
    open: the standard library closes only files it opened by name)."""
    decompressor: io.BufferedIOBase
    if name.endswith(".gz"):
        decompressor = gzip.GzipFile(fileobj=raw, mode="rb")
    elif name.endswith(".bz2"):
        decompressor = bz2.BZ2File(raw, "rb")
    elif name.endswith((".xz", ".lzma")):
        decompressor = lzma.LZMAFile(raw, "rb")  # noqa: SIM115 (closed with the reader)
    else:
        return raw
    # A C BufferedReader on top: iterating lines is several times faster than the
    # decompressors' own readline (Python code per line); seek and tell pass through.
    return io.BufferedReader(decompressor, _BUFFER)


if sys.platform == "win32":  # pragma: no cover - no flock: see rule 8
    _FLOCK = False

    def _try_flock(raw: io.BufferedReader) -> bool:
        """Without flock, a file's owner cannot be told alive: assume it is not."""
        return True

else:
    import fcntl

    _FLOCK = True

    def _try_flock(raw: io.BufferedReader) -> bool:
        """Take the exclusive flock of an open file; False when another process holds it."""
        try:
            fcntl.flock(raw.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _signature_of(raw: io.BufferedReader) -> tuple[int, int]:
    st = os.fstat(raw.fileno())
    return (st.st_mtime_ns, st.st_size)


def _name_max(path: str) -> int:
    """The longest file name, in bytes, in the folder of ``path``."""
    try:
        return os.pathconf(os.path.dirname(path) or os.curdir, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # AttributeError: no pathconf (Windows)
        return NAME_MAX


def _json_safe(name: str) -> str:
    """``name`` as valid Unicode, for contexts that end up in JSON.

    A name that is not valid UTF-8 arrives with its odd bytes as lone surrogates (PEP 383),
    which JSON encoders refuse or pass on to fail later; they are shown as ``\\xNN`` here.
    Positions keep the exact name: that is what the source renames.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class FileABCSource(BlockingSource):
    """Base of the file sources: scans, locks, reads, acknowledges and finalizes files.

    Subclasses override ``iter_records(filename, f)``, which gets a binary file object (already
    decompressed) and yields ``(event, offset)`` pairs, ``offset`` being the byte offset just
    after the record. Each event's context is ``{"filename": <original name>, "offset": offset}``
    (a name not valid UTF-8 shown with ``\\xNN`` escapes, so that contexts go into JSON).

    Config:
        path: a glob (several joined by ``os.pathsep``) of the files to read. Required.
        mode: ``"rb"`` for ``bytes`` events, ``"r"`` for ``str`` events decoded with ``encoding``.
        encoding: the text encoding in ``"r"`` mode; ``""`` means UTF-8.
        post: ``"move"``, ``"delete"`` or ``"noop"`` (see the module rules).
        include: a glob the whole path must match; ``""`` for any.
        exclude: a glob that excludes a path; ``""`` for none.
        move_destination: a directory for processed files (``post = move``); ``""`` keeps them
            beside the original. Keep it outside the scanned glob.
        state_dir: where saved offsets are kept; ``""`` puts each beside its file, hidden.
        watch: keep scanning for new files every ``poll_interval`` seconds (True), or end the
            input once a scan finds nothing to read (False: a finite run).
        max_open_files: how many files waiting for acknowledgements stay open (rule 8).
        offset_commit_interval: seconds between saves of a file's acknowledged offset (rule 4);
            0 saves on every acknowledgement.
        offset_commit_every: save sooner once this many records were acknowledged (rule 4).
        poll_interval, retry_delay, read_size: see ``IOSource`` (defaults 1.0, 0.0, 256 here).

    Raises:
        ConfigError: at build time, for a value outside its ``ConfigRules`` (an unknown
            ``post`` or ``mode``, an encoding that is not ASCII-compatible text,
            ``max_open_files`` or ``offset_commit_every`` below 1, a negative or NaN
            interval…), or an empty ``path`` once the source joins a pipeline.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "path": "",
        "mode": "rb",
        "encoding": "",
        "post": "move",
        "include": "",
        "exclude": "",
        "move_destination": "",
        "state_dir": "",
        "watch": True,
        "max_open_files": 64,
        "offset_commit_interval": 1.0,
        "offset_commit_every": 100_000,
        "poll_interval": 1.0,
        "retry_delay": 0.0,
    }

    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "mode": one_of("r", "rt", "rb"),
        "encoding": LINE_CODEC,
        "post": one_of(*_POST),
        "max_open_files": in_range(1, 2**20),
        "offset_commit_interval": at_least(0),
        "offset_commit_every": at_least(1),
    }

    #: True when ``iter_records`` reports offsets from ``f.tell()``, so that resuming can seek
    #: straight to the saved offset instead of parsing and skipping what was acknowledged.
    SeekToResume: ClassVar[bool] = False

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._by_serial: dict[int, _File] = {}
        self._serials = itertools.count(1)
        self._current: _File | None = None
        self._queue: deque[tuple[str, bool]] = deque()
        self._error: FileReadError | None = None
        self._set_aside: dict[str, tuple[int, int]] = {}
        self._given_up: set[str] = set()
        self._reported: set[str] = set()
        self._first_scan = True
        self._closed = False
        self._n_processed = self._n_failed = self._n_interrupted = self._n_resumed = 0
        self._n_offset_writes = 0
        self._store = OffsetStore()
        super().__init__(pipeline, id, config)

    # ------------------------------------------------------------------ configuration

    def _owner(self) -> str:
        return f"{type(self).__name__} {self.Id!r}"

    def apply_config(self) -> None:
        """Derive and check the settings (at construction and on joining a pipeline)."""
        super().apply_config()
        config = self.Config
        owner = self._owner()
        #: Rule 4's bounds on saving offsets (``ConfigRules`` checked them).
        self.OffsetCommitInterval = float(config["offset_commit_interval"])
        self.OffsetCommitEvery = int(config["offset_commit_every"])
        self.Encoding = str(config["encoding"]) or "utf-8"
        #: True when events are decoded text (``mode`` without ``b``).
        self.TextMode = "b" not in config["mode"]
        self._store = OffsetStore(str(config["state_dir"]))
        if self.Pipeline is not None and not config["path"]:
            raise ConfigError(f"{owner}: config key 'path' is empty; give a glob of files to read")

    # ------------------------------------------------------------------ scanning

    def statistics(self) -> FileSourceStatistics:
        """A frozen snapshot of the file counters."""
        return FileSourceStatistics(
            self._n_processed,
            self._n_failed,
            self._n_interrupted,
            self._n_resumed,
            self._n_offset_writes,
        )

    def _patterns(self) -> list[str]:
        return [p for p in str(self.Config["path"]).split(os.pathsep) if p]

    def _matches(self, name: str) -> bool:
        include, exclude = str(self.Config["include"]), str(self.Config["exclude"])
        if exclude and fnmatch.fnmatch(name, exclude):
            return False
        return not include or fnmatch.fnmatch(name, include)

    def scan(self) -> list[str]:
        """The new files the next scan would take, in order (rule 1; files set aside while
        unchanged, ``noop`` ones read already, are left out)."""
        found: list[str] = []
        seen: set[str] = set()
        for pattern in self._patterns():
            for name in sorted(iglob(pattern)):
                if name in seen or name.endswith(_MARKERS) or self._store.is_state_file(name):
                    continue
                seen.add(name)
                if not os.path.isfile(name) or not self._matches(name):
                    continue
                found.append(name)
        # Forget files that went away, so the memory is bounded by the directory's size.
        self._set_aside = {n: s for n, s in self._set_aside.items() if n in seen}
        return [n for n in found if n not in self._set_aside or self._set_aside[n] != _signature(n)]

    def _resumable(self) -> list[str]:
        """Original names of ``-locked`` files with a saved offset that may be resumed (rule 5)."""
        if not _FLOCK and not self._first_scan:  # pragma: no cover - Windows
            return []
        found: list[str] = []
        for pattern in self._patterns():
            for locked in sorted(iglob(pattern + _LOCKED)):
                name = locked[: -len(_LOCKED)]
                if (
                    name in self._files
                    or name in found
                    or locked in self._given_up
                    or self._store.is_state_file(name)
                    or not os.path.isfile(locked)
                    or not self._matches(name)
                    or self._store.load(name) is None
                ):
                    continue
                found.append(name)
        return found

    def _next_file(self) -> _File | None:
        """Lock (or resume) the next file; None when a fresh scan finds nothing to take."""
        scanned = False
        while True:
            if not self._queue:
                if scanned:
                    return None
                scanned = True
                self._queue.extend((name, True) for name in self._resumable())
                self._queue.extend((name, False) for name in self.scan())
                self._first_scan = False
                continue
            name, resume = self._queue.popleft()
            entry = self._resume(name) if resume else self._lock_new(name)
            if entry is not None:
                return entry

    def _lock_new(self, name: str) -> _File | None:
        """Rule 2: lock a new file, save offset 0 (marks it ours, for a restart), open it."""
        if name in self._files:
            return None  # its -locked namesake is being read; a later scan takes it
        locked = name + _LOCKED
        signature = _signature(name)
        mark = "-processed" if self.Config["post"] == "move" else _LOCKED  # "-failed" is as long
        if _name_max(name) < len(os.fsencode(os.path.basename(name) + mark)):
            # Rule 1: renaming would fail at every scan; fail it once, untouched.
            self._n_failed += 1
            if signature is not None:
                self._set_aside[name] = signature  # not again while unchanged
            too_long = OSError(errno.ENAMETOOLONG, f"name too long to add {mark!r}", name)
            raise self._error_for(name, too_long)
        if os.path.lexists(locked):
            if self._store.load(name) is not None:
                return None  # another pump reads it, or it is resumed first: a later scan
            # A run that stopped while reading left it and it cannot be resumed: renaming would
            # overwrite it, losing what it holds. A human decides (rename it back to read it).
            if name in self._reported:
                return None
            self._reported.add(name)
            self._n_failed += 1
            stale = FileExistsError(f"{locked!r} exists and cannot be resumed (no saved offset)")
            raise self._error_for(name, stale)
        try:
            os.rename(name, locked)
        except FileNotFoundError:
            return None  # someone else took it
        except OSError as exc:
            self._n_failed += 1
            if signature is not None:
                self._set_aside[name] = signature  # not again while unchanged: no busy loop
            raise self._error_for(name, exc) from exc
        try:
            raw = open(locked, "rb")  # noqa: SIM115 (held until the file is finished, rule 8)
        except OSError as exc:
            self._n_failed += 1
            self._rename(locked, name + "-failed")
            raise self._error_for(name, exc) from exc
        _try_flock(raw)
        entry = _File(name, raw, 0, _signature_of(raw))
        try:
            self._save(entry)
        except OSError as exc:
            raw.close()
            self._rename(locked, name)
            self._n_failed += 1
            if signature is not None:
                self._set_aside[name] = signature
            raise self._error_for(name, exc) from exc
        self._open_records(entry)
        return entry

    def _resume(self, name: str) -> _File | None:
        """Rule 5: take up a ``-locked`` file from its saved offset, unless its owner lives."""
        locked = name + _LOCKED
        try:
            raw = open(locked, "rb")  # noqa: SIM115 (held until the file is finished, rule 8)
        except OSError:
            return None
        if not _try_flock(raw):
            raw.close()
            return None  # a live pump is reading it
        saved = self._store.load(name)  # again, now that its owner cannot move it on
        if saved is None or saved.signature != _signature_of(raw):
            raw.close()
            self._given_up.add(locked)
            log.warning(
                "%s: %r does not match its saved offset; left for a human",
                self.locate_address(),
                locked,
            )
            return None
        entry = _File(name, raw, saved.offset, saved.signature)
        self._open_records(entry)
        self._n_resumed += 1
        log.info("%s: resuming %r at offset %d", self.locate_address(), name, saved.offset)
        return entry

    def _open_records(self, entry: _File) -> None:
        assert entry.raw is not None
        entry.reader = _decompressed(entry.raw, entry.name)
        entry.records = self._records(entry, entry.reader)
        entry.serial = next(self._serials)
        self._files[entry.name] = entry
        self._by_serial[entry.serial] = entry

    def _records(self, entry: _File, reader: io.BufferedIOBase) -> Generator[_Chunk, None, None]:
        resume = entry.resume
        if resume and self.SeekToResume:
            reader.seek(resume)  # inside the generator: a failure fails the file like a read
        name = entry.name
        serial = entry.serial << _OFFSET_BITS
        shown = _json_safe(name)
        for events, offsets in self.iter_chunks(name, reader):
            if offsets and offsets[0] <= resume:  # acknowledged by an earlier run
                first = bisect.bisect_right(offsets, resume)
                events, offsets = events[first:], offsets[first:]
            if not events:
                continue
            if offsets[-1] > _OFFSET_MASK:  # the file fails, rather than a position lying
                raise ValueError(f"offset {offsets[-1]} is beyond the 2**48 positions can hold")
            # The per-record work of every file pump, done a chunk at a time in C loops: the
            # columns of a Batch, no object per record.
            positions = list(map(add, repeat(serial), offsets))
            contexts = [{"filename": shown, "offset": offset} for offset in offsets]
            yield events, positions, contexts

    # ------------------------------------------------------------------ the I/O contract

    def open(self) -> None:
        """Start: the first scan resumes what an earlier run left locked."""
        with self._lock:
            self._closed = False
            self._first_scan = True
            self._queue.clear()

    def read(self, max_items: int) -> Batch | None:
        """Up to ``max_items`` records of the files found (rules 6 and 7), as one ``Batch``.

        Raises:
            FileReadError: a file failed (it is set aside); the next read goes on with the others.
        """
        with self._lock:
            if self._error is not None:
                pending, self._error = self._error, None
                raise pending
            if self._closed:
                return None
            out = _Columns()
            while len(out.events) < max_items:
                error: FileReadError | None = None
                entry = self._current
                if entry is None:
                    try:
                        entry = self._next_file()
                    except FileReadError as exc:
                        error = exc
                    else:
                        if entry is None:
                            break
                        self._current = entry
                if entry is not None:
                    error = self._take(entry, out, max_items)
                if error is not None:
                    if out.events:
                        self._error = error  # rule 6: what was read goes first
                        break
                    raise error
            if out.events:
                return Batch(out.events, out.positions, out.contexts)
            return Batch(()) if self.Config["watch"] else None

    def _take(self, entry: _File, out: _Columns, max_items: int) -> FileReadError | None:
        """Move records of the current file into ``out``; handle its end or its failure."""
        records = entry.records
        assert records is not None
        ended = False
        try:
            while (wanted := max_items - len(out.events)) > 0:
                chunk, entry.carry = entry.carry, None
                if chunk is None:
                    chunk = next(records, None)
                    if chunk is None:
                        ended = True
                        break
                if len(chunk[0]) > wanted:
                    entry.carry = (chunk[0][wanted:], chunk[1][wanted:], chunk[2][wanted:])
                    chunk = (chunk[0][:wanted], chunk[1][:wanted], chunk[2][:wanted])
                out.add(chunk)
                entry.read_to = chunk[1][-1] & _OFFSET_MASK
        except Exception as exc:
            # What the generator yielded before it raised was kept (rule 6).
            self._current = None
            return self._fail(entry, exc)
        if ended:  # the end of the file
            self._current = None
            entry.end = entry.read_to
            self._close_reader(entry)
            if entry.done():  # nothing left to acknowledge (empty, or resumed at its end)
                return self._finish(entry)
            self._limit_open_files()
        return None

    def acknowledge(self, positions: Sequence[Any]) -> None:
        """Note each file's highest acknowledged offset, save it when due and finish files done
        (rule 4).

        Raises:
            FileReadError: an offset could not be saved or a finished file not post-processed
                (the first such error; the others are logged).
        """
        with self._lock:
            if not positions:
                return
            # Positions come in read order, files one after another with rising serials: each
            # file's last position is its highest, and equal serials at both ends mean one
            # file (the usual case). Otherwise the loops run in C (a commit acknowledges
            # thousands).
            first, last = positions[0] >> _OFFSET_BITS, positions[-1] >> _OFFSET_BITS
            highest: dict[int, int]
            counts: Mapping[int, int]
            if first == last:
                highest, counts = {first: positions[-1]}, {first: len(positions)}
            else:
                serials = list(map(rshift, positions, repeat(_OFFSET_BITS)))
                highest, counts = dict(zip(serials, positions, strict=True)), Counter(serials)
            now = time.monotonic()
            errors: list[FileReadError] = []
            for serial, position in highest.items():
                entry = self._by_serial.get(serial)
                offset = position & _OFFSET_MASK
                if entry is None or offset <= entry.acked:
                    continue
                name = entry.name
                entry.acked = offset
                entry.unsaved += counts[serial]
                done = entry.done()
                if (
                    done
                    or entry.unsaved >= self.OffsetCommitEvery
                    or now - entry.saved_at >= self.OffsetCommitInterval
                ):
                    try:
                        self._save(entry)
                    except OSError as exc:
                        errors.append(self._error_for(name, exc))
                        continue
                if done:
                    error = self._finish(entry)
                    if error is not None:
                        errors.append(error)
            if errors:
                for error in errors[1:]:
                    log.warning("%s: %s", self.locate_address(), error)
                raise errors[0]

    def close(self) -> None:
        """Save the offsets not saved yet and close every file; unfinished ones stay
        ``-locked`` with their offsets (rule 9). A failing save is logged: the file's last saved
        offset stands, and a restart re-reads a little more."""
        with self._lock:
            self._closed = True
            self._current = None
            for entry in self._files.values():
                if entry.acked > entry.saved:
                    try:
                        self._save(entry)
                    except OSError as exc:
                        self._error_for(entry.name, exc)
                self._close_reader(entry)
                self._release(entry)
                self._n_interrupted += 1
            self._files.clear()
            self._by_serial.clear()

    def _save(self, entry: _File) -> None:
        """Save ``entry``'s acknowledged offset durably (rule 4).

        Raises:
            OSError: it could not be written; the previous save stands.
        """
        self._store.save(entry.name, SavedOffset(entry.acked, entry.signature))
        self._n_offset_writes += 1
        entry.saved, entry.saved_at, entry.unsaved = entry.acked, time.monotonic(), 0

    # ------------------------------------------------------------------ finishing files

    def _close_reader(self, entry: _File) -> None:
        if entry.records is not None:
            entry.records.close()
            entry.records = None
            entry.carry = None
        if entry.reader is not None and entry.reader is not entry.raw:
            try:
                entry.reader.close()
            except Exception:  # a decompressor may complain about a truncated end again
                log.debug("closing the reader of %r failed", entry.name, exc_info=True)
        entry.reader = None

    def _release(self, entry: _File) -> None:
        if entry.raw is not None:
            entry.raw.close()  # releases the flock
            entry.raw = None

    def _limit_open_files(self) -> None:
        """Rule 8: close the oldest fully read files beyond ``max_open_files``."""
        held = [e for e in self._files.values() if e.raw is not None]
        excess = len(held) - int(self.Config["max_open_files"])
        for entry in held:
            if excess <= 0:
                return
            if entry.end is not None:
                self._release(entry)
                excess -= 1

    def _finish(self, entry: _File) -> FileReadError | None:
        """Post-process a file read to the end and fully acknowledged (rule 4)."""
        name, locked = entry.name, entry.locked
        post = self.Config["post"]
        del self._files[name], self._by_serial[entry.serial]
        try:
            if post == "delete":
                os.unlink(locked)
                fsync_directory(os.path.dirname(locked))
            elif post == "noop":
                os.rename(locked, name)
                fsync_directory(os.path.dirname(locked))
                signature = _signature(name)
                if signature is not None:
                    self._set_aside[name] = signature
            else:
                destination = str(self.Config["move_destination"])
                if destination:
                    os.makedirs(destination, exist_ok=True)
                    target = os.path.join(destination, os.path.basename(name) + "-processed")
                    shutil.move(locked, target)  # may cross filesystems
                    fsync_directory(destination)
                else:
                    os.rename(locked, name + "-processed")
                fsync_directory(os.path.dirname(locked))
        except FileNotFoundError:
            pass  # rule 8: a second pump resumed it and finished it first
        except OSError as exc:
            # The events are out and acknowledged; only the bookkeeping failed. The file stays
            # "-locked" with its final offset (a restart finishes it without re-reading it).
            self._release(entry)
            self._given_up.add(locked)
            self._n_failed += 1
            return self._error_for(name, exc)
        self._release(entry)
        self._n_processed += 1
        # Only now that the rename is durable: a crash before it must find the offset.
        return self._forget(name)

    def _fail(self, entry: _File, exc: Exception) -> FileReadError:
        """Rule 6: set a file that cannot be read aside and describe why."""
        name, locked = entry.name, entry.locked
        del self._files[name], self._by_serial[entry.serial]
        self._close_reader(entry)
        if self.Config["post"] == "noop":
            self._rename(locked, name)
            signature = _signature(name)
            if signature is not None:
                self._set_aside[name] = signature
        else:
            self._rename(locked, name + "-failed")
        self._release(entry)
        self._n_failed += 1
        self._forget(name)
        return self._error_for(name, exc)

    def _forget(self, name: str) -> FileReadError | None:
        """Remove a finished file's saved offset. A leftover is harmless (the next lock of that
        name overwrites it, and without a ``-locked`` file it is never read), so a failure is
        reported, not fatal."""
        try:
            self._store.remove(name)
        except OSError as exc:
            return self._error_for(name, exc)
        return None

    def _error_for(self, name: str, exc: BaseException) -> FileReadError:
        error = FileReadError(name, exc)
        error.__cause__ = exc
        log.warning("%s: %s", self.locate_address(), error)
        return error

    def _rename(self, src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except OSError:
            self._given_up.add(src)
            log.exception("%s: cannot rename %r to %r", self.locate_address(), src, dst)

    # ------------------------------------------------------------------ for subclasses

    def iter_chunks(
        self, filename: str, f: io.BufferedIOBase
    ) -> Iterator[tuple[Sequence[Any], Sequence[int]]]:
        """Yield the records of one file a chunk at a time: ``(events, offsets)``, two lists of
        equal length, each offset the byte offset just after its record.

        The default groups what ``iter_records`` yields; a subclass that can cut records out of
        a block in bulk (``FileLineSource``) overrides this instead, which saves the per-record
        Python work. Records yielded before an exception are emitted; then the file fails.
        """
        events: list[Any] = []
        offsets: list[int] = []
        try:
            for event, offset in self.iter_records(filename, f):
                events.append(event)
                offsets.append(offset)
                if len(events) >= _CHUNK:
                    yield events, offsets
                    events, offsets = [], []
        except Exception:
            if events:  # rule 6: what was read before the error goes first
                yield events, offsets
            raise
        if events:
            yield events, offsets

    def iter_records(self, filename: str, f: io.BufferedIOBase) -> Iterator[tuple[Any, int]]:
        """Yield ``(event, offset)`` for each record of one file, ``offset`` being the byte
        offset just after the record (in the decompressed stream).

        Args:
            filename: the file's original name.
            f: the file, opened for binary reading and already decompressed; positioned at its
                start, or at the resume offset when the class sets ``SeekToResume``.

        Raises:
            Exception: anything raised marks the file ``-failed`` (see the module rules).
        """
        raise NotImplementedError(f"{type(self).__name__}.iter_records() is not implemented")

    def decode(self, raw: bytes) -> Any:
        """``raw`` as the event type of ``mode``: the bytes, or text decoded with ``encoding``.

        Raises:
            UnicodeDecodeError: in text mode, the bytes are not valid in the encoding.
        """
        return raw.decode(self.Encoding) if self.TextMode else raw
