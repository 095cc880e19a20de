"""Importing the core, its testing kit or the executors' entry point loads no event loop."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def test_executors_and_adapters_use_only_the_public_contract() -> None:
    # pumpcore.lowlevel is the contract for executor and adapter authors; pumpcore._* modules
    # may change at any time. Parsing (not grepping) also catches `import pumpcore._x as y`.
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("executors", "adapters", "bench"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names, line = [node.module], node.lineno
                elif isinstance(node, ast.Import):
                    names, line = [alias.name for alias in node.names], node.lineno
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "pumpcore" and any(p.startswith("_") for p in parts[1:]):
                        offenders.append(f"{path.relative_to(root)}:{line}: {name}")
    assert offenders == []
