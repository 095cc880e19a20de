"""The docs match the code: the README's example runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "{'usd': 2, 'jpy': 227.4}"
    assert out[1] == "{'usd': 3, 'jpy': 341.1}"
    assert out[2].startswith("{'event.in': 2, 'event.out': 2,")


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/check" in readme
    assert (ROOT / "scripts" / "check").exists()
    assert "scripts/check" in (ROOT / ".ci" / "run").read_text()
