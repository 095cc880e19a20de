"""Declarative pumps (``pumpcore run pump.yaml``): built, configured and run on every executor;
every mistake named with its file, line and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName
from pumpcore_executors._declarative import DefinitionError, build_pipelines, load_definition

from pumpcore import Context, Settings
from pumpcore.common import ListSink

from .conftest import run_kwargs


def triple(context: Context, event: Any) -> Any:
    return event * 3


PUMP = """\
pipelines:
  - id: Numbers
    config: {error_policy: soft}
    sources:
      - class: pumpcore.common.IteratorSource
        id: Input
        args: {iterator: ["1", "2", "3"]}
    processors:
      - function: tests.executors.test_declarative.triple
      - class: pumpcore.common.StringToBytesParser
        id: Encode
      - class: pumpcore.common.ListSink
"""


def test_builds_and_runs_on_every_executor(executor: ExecutorName) -> None:
    [pipeline] = build_pipelines(PUMP, "pump.yaml")
    assert pipeline.Id == "Numbers"
    assert [s.Id for s in pipeline.iter_sources()] == ["Input"]
    assert pipeline.processor_ids() == ("triple", "Encode", "ListSink")
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    sink = pipeline.locate_sink()
    assert isinstance(sink, ListSink)
    assert sink.Events == [b"111", b"222", b"333"]
    assert report.statistics["Numbers"].event_out == 3


def test_config_files_apply(tmp_path: Path) -> None:
    pump = tmp_path / "pump.json"
    pump.write_text(
        '{"pipelines": [{"id": "P", "sources": {"class": "pumpcore.common.IteratorSource",'
        ' "args": {"iterator": [1]}}, "processors": [{"class": "pumpcore.common.ListSink"}]}]}'
    )
    settings = Settings.from_ini("[pipeline:P]\nerror_policy = soft\nsample_every = 7\n")
    [pipeline] = load_definition(pump, settings)
    assert pipeline.Config["sample_every"] == 7
    assert pipeline.Config["error_policy"] == "soft"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "pump.yaml:1: the definition: expected a mapping with `pipelines`"),
        ("pipelines: []\n", "pump.yaml:1: pipelines: defines no pipeline"),
        ("pipeline: []\n", "pump.yaml:1: pipeline: unknown key; did you mean 'pipelines'?"),
        ("pipelines: {id: P}\n", "pump.yaml:1: pipelines: expected a list, got {'id': 'P'}"),
        ("pipelines:\n  - sources: []\n", "pump.yaml:2: pipelines[0]: `id` is required"),
        ("pipelines:\n  - id: P\n", "pump.yaml:2: pipelines[0]: a pipeline needs `sources`"),
        (
            "pipelines:\n  - id: P\n    sources:\n      - clas: x.Y\n",
            "pump.yaml:4: pipelines[0].sources[0].clas: unknown key; did you mean 'class'?",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.nope.Source\n",
            "pump.yaml:4: pipelines[0].sources[0].class: cannot import module 'pumpcore.nope'",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.Nope\n",
            "pump.yaml:4: pipelines[0].sources[0].class: module 'pumpcore.common' has no 'Nope'",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.ListSink\n",
            "pump.yaml:4: pipelines[0].sources[0].class: <class 'pumpcore.common._sinks.ListSink'>"
            " is not a pumpcore Source",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.IteratorSource\n"
            "        args: {iterator: []}\n        config:\n          nope: 1\n",
            "pump.yaml:6: pipelines[0].sources[0].config: IteratorSource: IteratorSource "
            "'IteratorSource': unknown config key 'nope'",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.IteratorSource\n"
            "        args: {iterator: [], bogus: 1}\n",
            "pump.yaml:5: pipelines[0].sources[0].args: IteratorSource: IteratorSource.__init__() "
            "got an unexpected keyword argument 'bogus'",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.IteratorSource\n"
            "        args: {iterator: []}\n        triggers:\n"
            "          - class: pumpcore.trigger.PeriodicTrigger\n",
            "pump.yaml:6: pipelines[0].sources[0].triggers: IteratorSource is not a TriggerSource",
        ),
        (
            "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.IteratorSource\n"
            "        args: {iterator: []}\n    processors:\n"
            "      - function: tests.executors.test_declarative.triple\n",
            "pump.yaml:6: pipelines[0].processors: Pipeline 'P' has no sink",
        ),
        (
            "pipelines:\n  - id: P\n    config: {error_policy: maybe}\n",
            "pump.yaml:3: pipelines[0].config: Pipeline 'P': config key 'error_policy'",
        ),
        ("pipelines:\n  - id: [P\n", "pump.yaml:3: not valid YAML or JSON"),
    ],
)
def test_mistakes_name_the_line_and_the_key(text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as error:
        build_pipelines(text, "pump.yaml")
    assert str(error.value).startswith(message), str(error.value)


def test_pumpcore_run_takes_a_definition(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def double(context, event):\n    return event * 2\n")
    pump = tmp_path / "pump.yaml"
    pump.write_text(
        "pipelines:\n  - id: P\n    sources:\n      - class: pumpcore.common.IteratorSource\n"
        "        args: {iterator: [1, 2]}\n    processors:\n      - function: helpers.double\n"
        "      - class: pumpcore_stdio.PrintSink\n"
    )
    run = [sys.executable, "-m", "pumpcore_executors._cli", "run", str(pump)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2\n4\n"
    assert "P: event.in 2, event.out 2" in done.stderr
    pump.write_text(pump.read_text().replace("helpers.double", "helpers.tripple"))
    done = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert (
        f"pumpcore: {pump}:7: pipelines[0].processors[0].function: module 'helpers' has no "
        "'tripple'"
    ) in done.stderr
