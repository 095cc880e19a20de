"""The print components write to the given stream, or to sys.stdout as it is at write time."""

from __future__ import annotations

import io
import sys
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_stdio import (
    PPrintContextProcessor,
    PPrintProcessor,
    PPrintSink,
    PrintContextProcessor,
    PrintProcessor,
    PrintSink,
)

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink

WIDE = {"name": "x" * 40, "tags": ["alpha", "beta", "gamma", "delta"], "n": 1}


@pytest.mark.timeout(30)
def test_print_sink_prints_each_event_on_its_own_line() -> None:
    out = io.StringIO()
    p = Pipeline("P")
    p.build(IteratorSource([1, "two", {"three": 3}]), PrintSink(stream=out))
    report = pumpcore_executors.run(p)
    assert out.getvalue() == "1\ntwo\n{'three': 3}\n"
    assert report.statistics["P"].event_out == 3


@pytest.mark.timeout(30)
def test_pprint_sink_pretty_prints_wide_events_over_several_lines() -> None:
    out = io.StringIO()
    PPrintSink(stream=out).process({}, WIDE)
    text = out.getvalue()
    assert text.count("\n") > 1  # pprint wrapped it; print would not have
    assert eval(text) == WIDE  # and it is still the same value


@pytest.mark.timeout(30)
def test_processors_print_and_pass_the_event_on() -> None:
    events, contexts = io.StringIO(), io.StringIO()
    pevents, pcontexts = io.StringIO(), io.StringIO()

    def tag(context: dict[str, Any], event: int) -> int:
        context["seen"] = event
        return event

    sink = ListSink()
    p = Pipeline("P")
    p.build(
        IteratorSource([7, 8]),
        tag,
        PrintProcessor(stream=events),
        PrintContextProcessor(stream=contexts),
        PPrintProcessor(stream=pevents),
        PPrintContextProcessor(stream=pcontexts),
        sink,
    )
    pumpcore_executors.run(p)
    assert sink.Events == [7, 8]
    assert events.getvalue() == "7\n8\n"
    assert pevents.getvalue() == "7\n8\n"
    assert contexts.getvalue() == "{'seen': 7}\n{'seen': 8}\n"
    assert pcontexts.getvalue() == "{'seen': 7}\n{'seen': 8}\n"


@pytest.mark.timeout(30)
def test_default_stream_is_stdout_at_write_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = PrintSink()  # built before stdout is replaced below
    sink.process({}, "to capture")
    assert capsys.readouterr().out == "to capture\n"
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replaced)
    sink.process({}, "to replacement")
    sink.flush()
    assert replaced.getvalue() == "to replacement\n"
    assert sink.Stream is replaced


@pytest.mark.timeout(30)
def test_config_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown config key 'colour'"):
        PrintSink(config={"colour": "red"})
