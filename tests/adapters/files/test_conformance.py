"""The file adapter against ``pumpcore.testing.conformance``'s source and sink checks, on every
executor: acknowledged only once written, resumed where acknowledged, closed in order, bad files
counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pumpcore_files import FileJSONLinesSink, FileLineSource

from pumpcore.testing import conformance

pytestmark = pytest.mark.timeout(60)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


class Folder:
    """Input files written one per ``make_input`` call, named in the order they are written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.lines = 0

    def source(self) -> FileLineSource:
        return FileLineSource(
            config={"path": str(self.root / "*.log"), "watch": False, "mode": "r"}
        )

    def write(self, count: int) -> list[str]:
        lines = [f"line {self.lines + i}" for i in range(count)]
        self.lines += count
        self.files += 1
        (self.root / f"{self.files:04}.log").write_text("".join(f"{line}\n" for line in lines))
        return lines

    def write_bad(self) -> None:
        self.files += 1
        (self.root / f"{self.files:04}.log").write_bytes(b"fine\n\xff\xfe not UTF-8\n")


@every_executor
def test_file_line_source_conforms(tmp_path: Path, executor: str) -> None:
    folder = Folder(tmp_path)
    result = conformance.check_source(
        folder.source, folder.write, executor, make_bad_input=folder.write_bad
    )
    assert 0 < result.acknowledged <= 100
    _, second, third = result.sources
    assert isinstance(second, FileLineSource)
    assert second.statistics().files_resumed == 1  # the first run's file, from its offset
    assert isinstance(third, FileLineSource)
    assert third.statistics().files_failed == 1  # the bad file, counted by the source too
    assert result.bad_input_failures == 1
    assert sorted(p.name for p in tmp_path.glob("*-failed")) == ["0003.log-failed"]


@every_executor
def test_file_json_lines_sink_conforms(tmp_path: Path, executor: str) -> None:
    target = tmp_path / "out.jsonl"

    def read_durable() -> list[Any]:
        if not target.exists():
            return []
        text = target.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line being written is not there yet
        return [json.loads(line) for line in complete.splitlines()]

    result = conformance.check_sink(
        lambda: FileJSONLinesSink(config={"path": str(target)}), read_durable, executor
    )
    assert result.flushes >= 2
    assert len(read_durable()) == 450
