"""``pumpcore run``: a pump file, a config file, the summary; errors that say what is wrong."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from pumpcore_executors._cli import main
from pumpcore_executors._status import format_status

from pumpcore import ConfigWarning, PipelineStatistics

PUMP = """
from typing import Any, ClassVar
from pumpcore import Pipeline, Processor
from pumpcore.common import IteratorSource, ListSink

class Scale(Processor):
    ConfigDefaults: ClassVar[dict[str, Any]] = {"factor": 1}
    def process(self, context, event):
        return event * self.Config["factor"]

class ScalePipeline(Pipeline):
    def __init__(self, pipeline_id):
        super().__init__(pipeline_id)
        self.sink = ListSink()
        self.build(IteratorSource(range(5)), Scale(), self.sink)

scaled = ScalePipeline("ScalePipeline")
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_applies_the_config_file_and_prints_a_summary(tmp_path: Path) -> None:
    pump = write(tmp_path, "my_pump.py", PUMP + "\nprint(scaled.sink.Events)\n")
    conf = write(tmp_path, "pump.conf", "[pipeline:ScalePipeline:Scale]\nfactor = 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "pumpcore_executors._cli", "run", str(pump), "-c", str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ScalePipeline: event.in 5, event.out 5" in result.stderr


def test_run_in_process_sees_configured_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pump = write(tmp_path, "p.py", PUMP + "\nimport atexit\nRESULT = scaled\n")
    conf = write(tmp_path, "p.conf", "[pipeline:ScalePipeline:Scale]\nfactor = 3\n")
    assert main(["run", str(pump), "-c", str(conf), "--status", "never"]) == 0
    assert "event.out 5" in capsys.readouterr().err


def test_bad_config_value_is_reported_with_component_key_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pump = write(tmp_path, "p.py", PUMP)
    conf = write(tmp_path, "p.conf", "[pipeline:ScalePipeline:Scale]\nfactor = lots\n")
    assert main(["run", str(pump), "-c", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "Scale 'Scale'" in err
    assert "'factor'" in err
    assert "'lots'" in err


def test_a_config_section_naming_no_component_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pump = write(tmp_path, "p.py", PUMP)
    conf = write(tmp_path, "p.conf", "[pipeline:ScalePipeline:Scaler]\nfactor = 3\n")
    with pytest.warns(ConfigWarning, match=r"\[pipeline:ScalePipeline:Scaler\].*'Scale'\?"):
        assert main(["run", str(pump), "-c", str(conf), "--status", "never"]) == 0
    assert "event.out 5" in capsys.readouterr().err


def test_strict_config_refuses_a_section_naming_no_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pump = write(tmp_path, "p.py", PUMP)
    conf = write(tmp_path, "p.conf", "[pipeline:ScalePipe]\nsample_every = 3\n")
    assert main(["run", str(pump), "-c", str(conf), "--strict-config"]) == 2
    err = capsys.readouterr().err
    assert "config section [pipeline:ScalePipe] names no pipeline" in err
    assert "event.in" not in err  # refused before running


def test_missing_files_and_empty_pumps_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "nope.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = write(tmp_path, "empty.py", "x = 1\n")
    assert main(["run", str(empty)]) == 2
    assert "defines no pipeline" in capsys.readouterr().err
    pump = write(tmp_path, "p.py", PUMP)
    assert main(["run", str(pump), "-c", str(tmp_path / "missing.conf")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_a_hard_error_makes_the_exit_code_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pump = write(tmp_path, "p.py", PUMP.replace("range(5)", "[1, 'x', 2]").replace(
        "return event * self.Config", "return 1 / 0 if event == 'x' else event * self.Config"
    ))  # fmt: skip
    assert main(["run", str(pump), "--status", "never"]) == 1
    assert "ScalePipeline stopped by an error: Scale: ZeroDivisionError" in capsys.readouterr().err


def test_status_line_reports_rates_drops_and_errors() -> None:
    before = {"P": PipelineStatistics("P", event_in=100, event_out=90)}
    after = {"P": PipelineStatistics("P", event_in=300, event_out=250, event_drop=7, error=1)}
    line = format_status(before, after, interval=2.0)
    assert line == "P: in 100/s out 80/s drop 7 warn 0 err 1"
    assert isinstance(io.StringIO().write(line), int)
