"""StdinLineSource: lines of a stream until EOF, in process and through real pipes."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_stdio import StdinLineSource

from pumpcore import Pipeline
from pumpcore.common import ListSink


def run_lines(stream: io.StringIO, batch_size: int = 256) -> tuple[list[Any], StdinLineSource]:
    sink = ListSink()
    source = StdinLineSource(stream=stream)
    p = Pipeline("P")
    p.build(source, sink)
    pumpcore_executors.run(p, batch_size=batch_size)
    return sink.Events, source


@pytest.mark.timeout(30)
def test_lines_without_terminators_until_eof() -> None:
    events, source = run_lines(io.StringIO("alpha\n\nbeta\r\ngamma"))
    assert events == ["alpha", "", "beta", "gamma"]
    assert source.exhausted()
    assert source.lines_read == 4


@pytest.mark.timeout(30)
def test_many_lines_in_small_batches_keep_their_order() -> None:
    text = "".join(f"{i}\n" for i in range(1000))
    events, _ = run_lines(io.StringIO(text), batch_size=7)
    assert events == [str(i) for i in range(1000)]


@pytest.mark.timeout(30)
def test_empty_input_ends_the_run_at_once() -> None:
    events, source = run_lines(io.StringIO(""))
    assert events == []
    assert source.exhausted()


@pytest.mark.timeout(30)
def test_default_stream_is_stdin_at_read_time(monkeypatch: pytest.MonkeyPatch) -> None:
    source = StdinLineSource()  # built before stdin is replaced below
    monkeypatch.setattr(sys, "stdin", io.StringIO("from the replacement\n"))
    sink = ListSink()
    p = Pipeline("P")
    p.build(source, sink)
    pumpcore_executors.run(p)
    assert sink.Events == ["from the replacement"]


@pytest.mark.timeout(30)
def test_lines_not_taken_after_a_hard_error_are_offered_again() -> None:
    def picky(context: dict[str, Any], event: str) -> str:
        if event == "bad":
            raise ValueError("bad line")
        return event

    sink = ListSink()
    source = StdinLineSource(stream=io.StringIO("a\nbad\nc\nd\n"))
    p = Pipeline("P")  # hard policy: stop on the first failure
    p.build(source, picky, sink)
    assert source.pump(10) == 2  # "a", then "bad" failed and stopped the pipeline
    assert source.pump(10) == 0
    assert source.has_pending()
    assert not source.exhausted()
    p.recover()
    assert source.pump(10) == 2
    assert sink.Events == ["a", "c", "d"]
    assert p.statistics().error == 1
    assert source.pump(10) == 0
    assert source.exhausted()


PUMP_SCRIPT = textwrap.dedent(
    """
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_stdio import PrintSink, StdinLineSource

    p = Pipeline("Upper")
    p.build(StdinLineSource(), lambda context, event: event.upper(), PrintSink())
    report = pumpcore_executors.run(p)
    print("out", report.statistics["Upper"].event_out)
    """
)


@pytest.mark.timeout(30)
def test_a_pump_reads_its_standard_input_through_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PUMP_SCRIPT],
        input="hello\nworld\n",
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["HELLO", "WORLD", "out 2"]


@pytest.mark.timeout(30)
def test_each_line_is_processed_as_soon_as_it_arrives() -> None:
    # The writer waits for each answer before writing the next line: a source that waited for a
    # full batch (or for EOF) would deadlock here, and the timeout would fail the test.
    with subprocess.Popen(
        [sys.executable, "-u", "-c", PUMP_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        answers = []
        for word in ("one", "two", "three"):
            proc.stdin.write(word + "\n")
            proc.stdin.flush()
            answers.append(proc.stdout.readline())
        proc.stdin.close()
        rest = proc.stdout.read()
        assert proc.wait(timeout=25) == 0
    assert answers == ["ONE\n", "TWO\n", "THREE\n"]
    assert rest == "out 3\n"
