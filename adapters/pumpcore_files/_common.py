"""Helpers shared by the file sources and sinks."""

from __future__ import annotations

import os

from pumpcore.config import ConfigRule, text_codec


def _writes_newline_as_0x0a(name: str) -> bool:
    try:
        return "a\n".encode(name or "utf-8").endswith(b"a\n")
    except (LookupError, TypeError):
        return False


_NEWLINE_0X0A = ConfigRule(
    "one that writes a newline as the byte 0x0A (ASCII-compatible)", _writes_newline_as_0x0a
)
LINE_CODEC = text_codec(allow_empty=True) & _NEWLINE_0X0A
SINK_LINE_CODEC = text_codec() & _NEWLINE_0X0A
"""The rules of a line-oriented component's ``encoding`` ("" meaning UTF-8 for sources).

Line-oriented readers split raw bytes at ``b"\\n"`` and decode each line on its own, which is
what lets them report the byte offset of each line. That is exact for every encoding that
writes a newline as the single byte 0x0A (UTF-8, ASCII, the ISO-8859 and Windows code pages);
UTF-16 and UTF-32 do not, and are refused at build rather than misread later.
"""


def fsync_directory(directory: str) -> None:
    """Make a file's creation or rename in ``directory`` durable (best effort: some platforms
    and filesystems cannot open or fsync a directory)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
