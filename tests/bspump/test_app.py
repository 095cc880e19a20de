"""BSPumpApplication: its command line, services, exit codes and web API."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pumpcore_bspump as bspump
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pumpcore_bspump import BSPumpApplication, asab
from pumpcore_bspump.common import IteratorSource, ListSink

from pumpcore import ConfigWarning
from pumpcore.testing import conformance

from . import _apis
from ._run import copy_examples, run_pump


class Recording(asab.Service):
    """Registers a pipeline in ``initialize``, as the blank app's service does."""

    def __init__(self, app: Any, calls: list[str]) -> None:
        super().__init__(app, "test.Recording")
        self.Calls = calls

    async def initialize(self, app: Any) -> None:
        self.Calls.append("initialize")
        svc = app.get_service("bspump.PumpService")
        self.Pipeline = bspump.Pipeline(app, "P")
        self.Sink = ListSink(app, self.Pipeline)
        self.Pipeline.build(
            IteratorSource(app, self.Pipeline, range(int(self.Pipeline.Config["count"]))),
            self.Sink,
        )
        svc.add_pipeline(self.Pipeline)
        await svc.initialize(app)

    async def finalize(self, app: Any) -> None:
        self.Calls.append(f"finalize after {len(self.Sink.Events)} events")


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_services_initialize_run_and_finalize(tmp_path: Path, executor: str) -> None:
    config = tmp_path / "pump.conf"
    config.write_text("[pipeline:P]\ncount = 3\n")
    app = BSPumpApplication(["-c", str(config), "--executor", executor, "--stop-after", "0.3"])
    calls: list[str] = []
    Recording(app, calls)
    err = io.StringIO()
    assert app.run(out=err) == 0
    assert calls == ["initialize", "finalize after 3 events"]
    assert f"1 pipeline(s) ready (executor {executor})." in err.getvalue()


def test_a_config_file_that_cannot_be_read_ends_the_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        BSPumpApplication(["-c", str(tmp_path / "missing.conf")])
    assert stop.value.code == 2
    assert "cannot read config file" in capsys.readouterr().err
    broken = tmp_path / "broken.conf"
    broken.write_text("url = x\n")
    with pytest.raises(SystemExit):
        BSPumpApplication(["-c", str(broken)])
    assert f"config file {str(broken)!r}: invalid configuration file: line 1" in (
        capsys.readouterr().err
    )


def test_a_section_naming_no_pipeline_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "pump.conf"
    config.write_text("[pipeline:P]\ncount = 1\n[pipeline:Q]\nurl = x\n")
    app = BSPumpApplication(["-c", str(config), "--stop-after", "0.1", "--executor", "sync"])
    Recording(app, [])
    with pytest.warns(ConfigWarning, match=r"\[pipeline:Q\] names no pipeline of this run"):
        app.run(out=io.StringIO())


def test_exit_codes() -> None:
    empty = BSPumpApplication(["--executor", "sync"])
    err = io.StringIO()
    with pytest.raises(SystemExit) as stop:
        empty.run(out=err)
    assert stop.value.code == 2
    assert "no pipeline registered" in err.getvalue()

    class Fails(bspump.Processor):
        def process(self, context: Any, event: Any) -> Any:
            raise ValueError(f"bad {event}")

    app = BSPumpApplication(["--executor", "sync", "--stop-after", "1"])
    pipeline = bspump.Pipeline(app, "P")
    pipeline.build(IteratorSource(app, pipeline, [1]), Fails(app, pipeline), ListSink())
    app.PumpService.add_pipeline(pipeline)
    err = io.StringIO()
    with pytest.raises(SystemExit) as stop:
        app.run(out=err)
    assert stop.value.code == 1
    assert "P stopped by an error: Fails: ValueError('bad 1')" in err.getvalue()


@pytest.fixture(scope="module")
def coindesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with _apis.public_apis() as address:
        yield copy_examples(tmp_path_factory.mktemp("app") / "examples", address) / "coindesk.py"


@pytest.mark.parametrize("executor", conformance.executor_params())
def test_dash_w_serves_the_web_api(coindesk: Path, executor: str) -> None:
    seen: dict[str, Any] = {}

    def scrape(out: str, err: str) -> bool:
        match = re.search(r"Web API on (http://\S+)", err)
        if match is None or "bpi" not in out:
            return False
        url = match.group(1)
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            seen["metrics"] = response.read().decode()
        with urllib.request.urlopen(url + "/bspump/v1/pipelines", timeout=10) as response:
            seen["pipelines"] = json.loads(response.read())
        return True

    done = run_pump(coindesk, ["-w", "127.0.0.1:0", "--executor", executor], until=scrape)
    assert done.returncode == 0, done.stderr
    samples = {
        (s.name, s.labels.get("pipeline")): s.value
        for family in text_string_to_metric_families(seen["metrics"])
        for s in family.samples
    }
    assert samples[("pumpcore_pipeline_event_out_total", "SamplePipeline")] >= 1
    assert seen["pipelines"]["SamplePipeline"]["sources"][0]["id"] == "HTTPClientSource"
