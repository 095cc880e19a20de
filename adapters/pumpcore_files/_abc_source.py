"""FileABCSource: BSPump's protocol for reading files that land in a directory.

Rules (BSPump's, kept; differences are marked):
1. ``path`` is a glob, or several joined by ``os.pathsep``; ``include``/``exclude`` are further
   globs matched against the whole path (``exclude`` wins). Names ending in ``-locked``,
   ``-failed`` or ``-processed`` are never picked up.
2. A file is locked by renaming it to ``<name>-locked`` before it is read; if the rename finds the
   file gone, another process took it and it is skipped. If ``<name>-locked`` already exists (a
   run stopped while reading it), the new file is not read and this is reported, rather than
   overwriting the locked one.
3. ``.gz``, ``.bz2``, ``.xz`` and ``.lzma`` files are decompressed transparently.
4. After a complete read, ``post`` decides: ``move`` (the default) renames it to
   ``<name>-processed`` (into ``move_destination`` if set), ``delete`` removes it, ``noop`` renames
   it back. Unlike BSPump, a ``noop`` file is remembered with its modification time and size and
   not read again while both are unchanged, so a periodic trigger does not emit it twice.
5. A read error (missing, unreadable, corrupt compression, invalid encoding, unparseable) renames
   the file to ``<name>-failed`` (``noop``: back to its name, remembered as read) and is reported
   with ``Pipeline.report_source_failure`` as a ``FileReadError``: the error policy decides, and
   under the soft policy the other files go on. Events emitted before the error stay emitted.
6. Unlike BSPump, which takes one file per trigger, a cycle reads every file the scan found, in
   sorted order, and stops early only when the pipeline is stopped by a hard error.
7. When the pipeline is stopped by a hard error in the middle of a file (an event failed), the
   file is renamed back to its name, so it is read again from the start once the pipeline
   recovers: at least once, never lost. (Resuming from the failed line needs the executor's
   position contract; see ``FileLineSource``'s ``offset``.)
"""

from __future__ import annotations

import bz2
import fnmatch
import glob
import gzip
import io
import logging
import lzma
import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from pumpcore import ConfigError, PipelineStoppedError, TriggerSource

from ._common import check_encoding
from ._errors import FileReadError

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.files")

_MARKERS = ("-locked", "-failed", "-processed")
_POST = ("move", "delete", "noop")


@attrs.frozen
class FileSourceStatistics:
    """What a file source did so far.

    Attributes:
        files_processed: files read to the end and finalized according to ``post``.
        files_failed: files that could not be read (renamed ``-failed``, or back for ``noop``).
        files_interrupted: files given back unread to the end because the pipeline stopped.
    """

    files_processed: int
    files_failed: int
    files_interrupted: int


def _open_decompressed(path: str, name: str) -> io.BufferedIOBase:
    """Open ``path`` for binary reading, decompressing by the extension of ``name``."""
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith((".xz", ".lzma")):
        return lzma.open(path, "rb")
    return open(path, "rb")


class FileABCSource(TriggerSource):
    """Base of the file sources: scans, locks, opens and finalizes files; ``read`` emits.

    Subclasses override ``read(filename, f)``, which gets a binary file object (already
    decompressed) and sends events with ``self.process(event, context)``.

    Config:
        path: a glob (several joined by ``os.pathsep``) of the files to read. Required.
        mode: ``"rb"`` for ``bytes`` events, ``"r"`` for ``str`` events decoded with ``encoding``.
        encoding: the text encoding in ``"r"`` mode; ``""`` means UTF-8.
        post: ``"move"``, ``"delete"`` or ``"noop"`` (see the module rules).
        include: a glob the whole path must match; ``""`` for any.
        exclude: a glob that excludes a path; ``""`` for none.
        move_destination: a directory for processed files (``post = move``); ``""`` keeps them
            beside the original. Keep it outside the scanned glob.

    Raises:
        ConfigError: at build time, for an unknown ``post`` or ``mode``, an unusable encoding, or
            an empty ``path`` once the source joins a pipeline.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "path": "",
        "mode": "rb",
        "encoding": "",
        "post": "move",
        "include": "",
        "exclude": "",
        "move_destination": "",
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._noop_read: dict[str, tuple[int, int]] = {}
        self._n_processed = self._n_failed = self._n_interrupted = 0
        super().__init__(pipeline, id, config)
        self._apply_config()

    # ------------------------------------------------------------------ configuration

    def reconfigure(self, *sections: Mapping[str, str]) -> None:
        """Resolve the configuration again (on joining a pipeline) and check it."""
        super().reconfigure(*sections)
        self._apply_config()

    def _owner(self) -> str:
        return f"{type(self).__name__} {self.Id!r}"

    def _apply_config(self) -> None:
        config = self.Config
        owner = self._owner()
        if config["post"] not in _POST:
            raise ConfigError(
                f"{owner}: config key 'post' must be one of {', '.join(_POST)}, "
                f"got {config['post']!r}"
            )
        if config["mode"] not in ("r", "rt", "rb"):
            raise ConfigError(
                f"{owner}: config key 'mode' must be 'r' or 'rb', got {config['mode']!r}"
            )
        self.Encoding = check_encoding(owner, str(config["encoding"]))
        #: True when events are decoded text (``mode`` without ``b``).
        self.TextMode = "b" not in config["mode"]
        if self.Pipeline is not None and not config["path"]:
            raise ConfigError(f"{owner}: config key 'path' is empty; give a glob of files to read")

    # ------------------------------------------------------------------ the cycle

    def statistics(self) -> FileSourceStatistics:
        """A frozen snapshot of the file counters."""
        return FileSourceStatistics(self._n_processed, self._n_failed, self._n_interrupted)

    def scan(self) -> list[str]:
        """The files the next cycle would read, in order (rule 1; ``noop`` files read unchanged
        are left out)."""
        config = self.Config
        include, exclude = str(config["include"]), str(config["exclude"])
        found: list[str] = []
        seen: set[str] = set()
        for pattern in str(config["path"]).split(os.pathsep):
            if not pattern:
                continue
            for name in sorted(glob.glob(pattern, recursive=True)):
                if name in seen or name.endswith(_MARKERS) or not os.path.isfile(name):
                    continue
                seen.add(name)
                if exclude and fnmatch.fnmatch(name, exclude):
                    continue
                if include and not fnmatch.fnmatch(name, include):
                    continue
                found.append(name)
        if config["post"] == "noop":
            # Forget files that went away, so the memory is bounded by the directory's size.
            self._noop_read = {n: s for n, s in self._noop_read.items() if n in seen}
            found = [n for n in found if self._noop_read.get(n) != _signature(n)]
        return found

    def cycle(self, *args: Any) -> None:
        """Read every file the scan finds (see the module rules)."""
        pipeline = self.Pipeline
        if pipeline is None:
            raise RuntimeError(f"source {self.Id!r} is not part of a pipeline")
        for filename in self.scan():
            if pipeline.is_error() or pipeline.is_stopped():
                return  # rule 6: the rest wait for recovery, untouched
            if not self._read_file(pipeline, filename):
                return

    def _report(self, pipeline: Pipeline, filename: str, exc: BaseException) -> bool:
        error = FileReadError(filename, exc)
        error.__cause__ = exc
        log.warning("%s: %s", self.locate_address(), error)
        return pipeline.report_source_failure(self.Id, error)

    def _read_file(self, pipeline: Pipeline, filename: str) -> bool:
        """Lock, read and finalize one file. Returns False when the cycle must stop."""
        post = self.Config["post"]
        locked = filename + "-locked"
        if os.path.lexists(locked):
            # A run that stopped while reading left it: renaming would overwrite it, losing what
            # it holds. A human decides (rename it back to read it again).
            self._n_failed += 1
            stale = FileExistsError(f"{locked!r} exists (left by an interrupted run?)")
            return self._report(pipeline, filename, stale)
        try:
            signature = _signature(filename)
            os.rename(filename, locked)
        except FileNotFoundError:
            return True  # rule 2: someone else took it
        except OSError as exc:
            self._n_failed += 1
            return self._report(pipeline, filename, exc)

        try:
            with _open_decompressed(locked, filename) as f:
                self.read(filename, f)
        except PipelineStoppedError:
            self._n_interrupted += 1
            self._rename(locked, filename)  # rule 7
            return False
        except Exception as exc:
            self._n_failed += 1
            if post == "noop":
                self._rename(locked, filename)
                self._noop_read[filename] = signature
            else:
                self._rename(locked, filename + "-failed")
            return self._report(pipeline, filename, exc)

        try:
            if post == "delete":
                os.unlink(locked)
            elif post == "noop":
                os.rename(locked, filename)
                self._noop_read[filename] = signature
            else:
                destination = str(self.Config["move_destination"])
                if destination:
                    os.makedirs(destination, exist_ok=True)
                    target = os.path.join(destination, os.path.basename(filename) + "-processed")
                    shutil.move(locked, target)  # may cross filesystems
                else:
                    os.rename(locked, filename + "-processed")
        except OSError as exc:
            # The events are out; only the bookkeeping failed. The file stays "-locked", so it is
            # not read twice, and a human is told.
            self._n_failed += 1
            return self._report(pipeline, filename, exc)
        self._n_processed += 1
        return True

    def _rename(self, src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except OSError:
            log.exception("%s: cannot rename %r to %r", self.locate_address(), src, dst)

    def read(self, filename: str, f: io.BufferedIOBase) -> None:
        """Emit the events of one file with ``self.process(event, context)``.

        Args:
            filename: the file's original name (put it in the contexts you emit).
            f: the file, opened for binary reading and already decompressed.

        Raises:
            Exception: anything raised marks the file ``-failed`` (see the module rules).
        """
        raise NotImplementedError(f"{type(self).__name__}.read() is not implemented")

    def decode(self, raw: bytes) -> Any:
        """``raw`` as the event type of ``mode``: the bytes, or text decoded with ``encoding``.

        Raises:
            UnicodeDecodeError: in text mode, the bytes are not valid in the encoding.
        """
        return raw.decode(self.Encoding) if self.TextMode else raw


def _signature(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size)
