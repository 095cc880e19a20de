"""``pumpcore run``: BSPump application files, and pumps split into modules beside them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import _apis
from ._run import copy_examples
from .test_examples import enriched, printed


def pumpcore_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pumpcore_executors._cli", "run", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with _apis.public_apis() as address:
        yield copy_examples(tmp_path_factory.mktemp("cli") / "examples", address)


def test_runs_the_blank_app_from_another_folder(examples: Path) -> None:
    # The launcher imports `mypipeline` from its own folder; the command runs elsewhere.
    done = pumpcore_run(
        examples.parent, "examples/blankapp/bspump-blank-app.py", "--stop-after", "1"
    )
    assert done.returncode == 0, done.stderr
    assert printed(json.dumps(enriched())) in done.stdout
    assert "1 pipeline(s) ready (executor asyncio)" in done.stderr  # the application's default


def test_passes_config_and_executor_to_a_bspump_application(examples: Path) -> None:
    done = pumpcore_run(
        examples, "config_quickstart.py", "-c", "config_quickstart.conf", "--executor", "trio",
        "--stop-after", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert printed(_apis.weather("London")) in done.stdout
    refused = pumpcore_run(
        examples, "weather_cities.py", "-c", "weather-pump.conf", "--executor", "sync"
    )
    assert refused.returncode == 2
    assert "SamplePipeline.LoadSource run(s) `async def` code written for asyncio" in (
        refused.stderr
    )


def test_a_pump_imports_modules_beside_it(tmp_path: Path) -> None:
    pump = tmp_path / "pumps" / "pump.py"
    pump.parent.mkdir()
    (pump.parent / "helpers.py").write_text("def double(context, event):\n    return event * 2\n")
    pump.write_text(
        "from helpers import double\n"
        "from pumpcore import Pipeline\n"
        "from pumpcore.common import IteratorSource, ListSink\n"
        "p = Pipeline('P')\n"
        "p.build(IteratorSource([1, 2]), double, ListSink())\n"
    )
    done = pumpcore_run(tmp_path, "pumps/pump.py")
    assert done.returncode == 0, done.stderr
    assert "P: event.in 2, event.out 2" in done.stderr


def test_a_file_with_neither_pipelines_nor_a_main_block_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    done = pumpcore_run(tmp_path, "empty.py")
    assert done.returncode == 2
    assert "defines no pipeline" in done.stderr
