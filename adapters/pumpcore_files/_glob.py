"""A ``glob.glob`` whose ``**`` visits each directory once, so symlink loops end.

The standard library's recursive glob (before Python 3.13) follows every symlink to a
directory, so a link back up the tree makes it walk ``a/loop/loop/...`` until the OS refuses,
and two such links make the walk exponential: a scan that never finishes at 100% CPU. Here
``**`` remembers each directory it entered by ``(st_dev, st_ino)`` and does not enter it again:
a file reachable by several paths is listed once, by the first path found (sorted order).

Otherwise the results are ``glob.glob(pattern, recursive=True)``'s: names starting with ``.``
match only a pattern component starting with ``.``, and ``**`` does not enter hidden folders.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator


def iglob(pattern: str) -> Iterator[str]:
    """The paths matching ``pattern`` (``**`` matching any number of folders, loop-safe)."""
    if "**" not in pattern:
        yield from glob.iglob(pattern)
        return
    # The root ("" for a relative pattern), then each component; "a//b" has an empty one and
    # "**/**" means "**".
    paths = [os.sep if os.path.isabs(pattern) else ""]
    parts: list[str] = []
    for part in pattern.split(os.sep):
        if part and not (part == "**" and parts and parts[-1] == "**"):
            parts.append(part)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        paths = [found for base in paths for found in _expand(base, part, last)]
    yield from paths


def _expand(base: str, part: str, last: bool) -> Iterator[str]:
    """The paths one pattern component ``part`` reaches from the folder ``base`` (only folders
    unless it is the ``last`` component)."""
    if part == "**":
        yield from _tree(base, last)
        return
    if not glob.has_magic(part):
        path = os.path.join(base, part)
        if os.path.isdir(path) or (last and os.path.lexists(path)):
            yield path
        return
    try:
        with os.scandir(base or os.curdir) as entries:
            names = [(e.name, e.is_dir()) for e in entries if part[0] == "." or e.name[0] != "."]
    except OSError:
        return
    for name, is_dir in sorted(names):
        if (last or is_dir) and fnmatch.fnmatch(name, part):
            yield os.path.join(base, name)


def _tree(base: str, with_files: bool) -> Iterator[str]:
    """``base`` and every folder below it (and file, ``with_files``), each folder entered once."""
    seen: set[tuple[int, int]] = set()
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder or os.curdir)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # a symlink back to a folder walked already: a loop, or a second path
        seen.add((st.st_dev, st.st_ino))
        yield folder
        try:
            with os.scandir(folder or os.curdir) as entries:
                children = sorted((e.name, e.is_dir()) for e in entries if e.name[0] != ".")
        except OSError:
            continue
        subfolders = []
        for name, is_dir in children:
            path = os.path.join(folder, name)
            if is_dir:
                subfolders.append(path)
            elif with_files:
                yield path
        stack.extend(reversed(subfolders))
