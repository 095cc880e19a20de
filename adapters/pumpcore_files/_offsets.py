"""Durable read positions of locked files: one small JSON file per file being read.

Rules:
1. A state file is written when a file is locked (offset 0) and as acknowledgements move its
   offset on, at a bounded rate (``FileABCSource`` rule 4); it is removed once the file was
   post-processed. So a ``-locked`` file with a
   state file was left by a pump that stopped part-way, and the offset says where to resume.
2. Writes are atomic and durable: a temporary file is written and fsynced, renamed over the state
   file with ``os.replace``, and the directory is fsynced. A crash leaves the old offset or the
   new one, never half a file; at worst the tail after the old offset is read again.
3. The state records the locked file's size and modification time. A state file that does not
   match the ``-locked`` file beside it (another file locked under the same name later) is not
   trusted: that file is left for a human instead of being resumed from a wrong offset.
4. State files never look like input: next to the data they are hidden (``.<name>.pumpcore-
   offset``), which globs skip, and file sources also skip what ``is_state_file`` recognises:
   a hidden name ending in ``STATE_MARK`` (or its ``.tmp``), or any such name in ``state_dir``.
   A visible ``report.pumpcore-offset.csv`` is input like any other.
5. A state file's name fits ``NAME_MAX`` (255 bytes) whatever the length of the file's name:
   a name too long to carry the marks is cut and a hash of the whole name appended (the full
   name is inside, and ``load`` checks it, so two cut names never mix).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

import attrs

from ._common import fsync_directory

STATE_MARK = ".pumpcore-offset"
"""The end of every state file's name (rule 4)."""

NAME_MAX = 255
"""The longest file name, in bytes, of the usual file systems (ext4, XFS, Btrfs, tmpfs, APFS)."""

_TEMPORARY = ".tmp"


def _fitted(prefix: str, base: str, suffix: str) -> str:
    """``prefix + base + suffix``, with ``base`` cut and hashed when the whole (and its
    ``.tmp`` while it is written) would not fit ``NAME_MAX`` (rule 5)."""
    name = prefix + base + suffix
    raw = os.fsencode(base)
    room = NAME_MAX - len(os.fsencode(prefix + suffix + _TEMPORARY))
    if len(raw) <= room:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    # Cutting bytes may split a character: fsdecode keeps the half as a surrogate, fsencode
    # gives the same bytes back, so the name still round-trips.
    return prefix + os.fsdecode(raw[: room - len(digest) - 1]) + "~" + digest + suffix


@attrs.frozen
class SavedOffset:
    """What a state file holds.

    Attributes:
        offset: every record ending at or before this byte offset (of the decompressed stream)
            was acknowledged.
        signature: the locked file's (modification time in ns, size) when it was locked.
    """

    offset: int
    signature: tuple[int, int]


class OffsetStore:
    """Saves and loads ``SavedOffset``s by the original name of the file they describe.

    Args:
        state_dir: the folder for state files; ``""`` puts each beside its file (hidden).
    """

    def __init__(self, state_dir: str = "") -> None:
        self.state_dir = state_dir

    def path_for(self, filename: str) -> str:
        """The state file of ``filename`` (its original name, before locking)."""
        directory, base = os.path.split(os.path.abspath(filename))
        if not self.state_dir:
            return os.path.join(directory, _fitted(".", base, STATE_MARK))
        # One folder for files from several directories: the hash keeps equal names apart.
        digest = hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
        return os.path.join(self.state_dir, _fitted("", base, f".{digest}{STATE_MARK}"))

    def is_state_file(self, path: str) -> bool:
        """True when ``path`` has the form of a state file (or its temporary) (rule 4)."""
        directory, base = os.path.split(os.path.abspath(path))
        if not base.endswith((STATE_MARK, STATE_MARK + _TEMPORARY)):
            return False
        if base.startswith("."):
            return True
        return bool(self.state_dir) and directory == os.path.abspath(self.state_dir)

    def load(self, filename: str) -> SavedOffset | None:
        """The saved offset of ``filename``, or None when there is none (or it is unreadable)."""
        try:
            with open(self.path_for(filename), "rb") as f:
                data = json.loads(f.read())
            offset = data["offset"]
            mtime_ns, size = data["signature"]
            if data["filename"] != os.path.abspath(filename) or not isinstance(offset, int):
                return None
            return SavedOffset(offset, (int(mtime_ns), int(size)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, filename: str, saved: SavedOffset) -> None:
        """Write ``saved`` for ``filename`` durably (rule 2).

        Raises:
            OSError: the state could not be written (the previous state is intact).
        """
        path = self.path_for(filename)
        directory = os.path.dirname(path)
        if self.state_dir:
            os.makedirs(directory, exist_ok=True)
        body = json.dumps(
            {
                "filename": os.path.abspath(filename),
                "offset": saved.offset,
                "signature": list(saved.signature),
            }
        ).encode()
        temporary = path + _TEMPORARY
        with open(temporary, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        fsync_directory(directory)

    def remove(self, filename: str) -> None:
        """Forget ``filename``'s offset (missing already is fine)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_for(filename))
