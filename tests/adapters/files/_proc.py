"""Which files this process holds open, read from Linux's /proc (no mock of the OS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

linux_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


def open_paths(folder: Path) -> list[str]:
    """Names of the files in ``folder`` this process has open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if os.path.dirname(target) == str(folder):
            found.append(os.path.basename(target))
    return sorted(found)
