"""Helpers shared by the file sources and sinks."""

from __future__ import annotations

import codecs
import os

from pumpcore import ConfigError, config_value_repr


def check_encoding(owner: str, encoding: str) -> str:
    """Return ``encoding`` ("" meaning UTF-8) after checking that it can be read line by line.

    Line-oriented readers split raw bytes at ``b"\\n"`` and decode each line on its own, which is
    what lets them report the byte offset of each line. That is exact for every encoding that
    writes a newline as the single byte 0x0A (UTF-8, ASCII, the ISO-8859 and Windows code pages);
    UTF-16 and UTF-32 do not, and are refused here rather than misread later.

    Raises:
        ConfigError: the encoding is unknown or does not write newlines as ``b"\\n"``.
    """
    name = encoding or "utf-8"
    shown = config_value_repr("encoding", encoding)
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise ConfigError(f"{owner}: unknown encoding {shown}") from exc
    if not "a\n".encode(name).endswith(b"a\n"):
        raise ConfigError(
            f"{owner}: encoding {shown} does not write a newline as the byte 0x0A; "
            "line-oriented file components support ASCII-compatible encodings only"
        )
    return name


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
