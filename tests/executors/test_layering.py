"""Importing the core, its testing kit or the executors' entry point loads no event loop."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.timeout(30)
def test_no_event_loop_library_is_imported_before_it_is_used() -> None:
    code = (
        "import sys, pumpcore, pumpcore.testing, pumpcore.testing.conformance, pumpcore_executors\n"
        "loaded = sorted(m for m in ('anyio', 'trio', 'asyncio', 'sniffio') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
