"""The core stays pure: no I/O, no event loop, no clock reads, no printing under pumpcore/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "pumpcore"

FORBIDDEN_MODULES = {
    "anyio", "asyncio", "concurrent", "ftplib", "http", "io", "logging", "multiprocessing",
    "os", "pathlib", "requests", "selectors", "shutil", "signal", "socket", "ssl",
    "subprocess", "sys", "tempfile", "threading", "time", "trio", "urllib",
}  # fmt: skip
FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint"}
CLOCK_READS = {"now", "utcnow", "today", "time_ns", "monotonic", "perf_counter"}


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{line} imports {name}")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{path.name}:{line} calls {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in CLOCK_READS:
                found.append(f"{path.name}:{line} reads the clock with .{func.attr}()")
    return found


def test_core_has_files_to_check() -> None:
    assert len(core_files()) > 10


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_does_no_io(path: Path) -> None:
    assert violations(path) == []


def test_the_checker_catches_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncio\nfrom time import time\nimport datetime\n"
        "print(datetime.datetime.now())\nopen('x')\n"
    )
    assert len(violations(bad)) == 5
