"""StdinLineSource: lines of a stream until EOF, in process and through real pipes, under every
executor."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_stdio import StdinLineSource

from pumpcore import Pipeline
from pumpcore.common import ListSink
from pumpcore.testing import conformance

pytestmark = pytest.mark.timeout(30)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def run_lines(
    stream: io.StringIO, executor: str = "sync", batch_size: int = 256
) -> tuple[list[Any], StdinLineSource]:
    sink = ListSink()
    source = StdinLineSource(stream=stream)
    p = Pipeline("P")
    p.build(source, sink)
    extra = {"blocking_threshold": 0.5} if executor in ("asyncio", "trio") else {}
    pumpcore_executors.run(
        p,
        executor=executor,  # type: ignore[arg-type]
        batch_size=batch_size,
        handle_signals=False,
        **extra,  # type: ignore[arg-type]
    )
    return sink.Events, source


@every_executor
def test_lines_without_terminators_until_eof(executor: str) -> None:
    events, source = run_lines(io.StringIO("alpha\n\nbeta\r\ngamma"), executor)
    assert events == ["alpha", "", "beta", "gamma"]
    assert source.exhausted()
    assert source.lines_read == 4


def test_many_lines_in_small_batches_keep_their_order() -> None:
    text = "".join(f"{i}\n" for i in range(1000))
    events, _ = run_lines(io.StringIO(text), batch_size=7)
    assert events == [str(i) for i in range(1000)]


def test_empty_input_ends_the_run_at_once() -> None:
    events, source = run_lines(io.StringIO(""))
    assert events == []
    assert source.exhausted()


def test_default_stream_is_stdin_at_read_time(monkeypatch: pytest.MonkeyPatch) -> None:
    source = StdinLineSource()  # built before stdin is replaced below
    monkeypatch.setattr(sys, "stdin", io.StringIO("from the replacement\n"))
    sink = ListSink()
    p = Pipeline("P")
    p.build(source, sink)
    pumpcore_executors.run(p, handle_signals=False)
    assert sink.Events == ["from the replacement"]


def test_lines_not_taken_after_a_hard_error_are_offered_again() -> None:
    def picky(context: dict[str, Any], event: str) -> str:
        if event == "bad":
            raise ValueError("bad line")
        return event

    sink = ListSink()
    source = StdinLineSource(stream=io.StringIO("a\nbad\nc\nd\n"))
    p = Pipeline("P")  # hard policy: stop on the first failure
    p.build(source, picky, sink)
    source.feed(source.read(10), 0.0)  # what an executor does with a read
    assert source.pump(10) == 2  # "a", then "bad" failed and stopped the pipeline
    assert source.pump(10) == 0
    assert source.has_pending()
    p.recover()
    assert source.pump(10) == 2
    assert sink.Events == ["a", "c", "d"]
    assert p.statistics().error == 1
    source.feed(source.read(10), 0.0)
    assert source.exhausted()


def test_a_read_waits_briefly_then_answers_empty_and_keeps_half_a_line() -> None:
    read_end, write_end = os.pipe()
    with open(read_end, encoding="utf-8") as stream, open(write_end, "wb", buffering=0) as w:
        source = StdinLineSource(stream=stream, config={"read_timeout": 0.05, "read_size": 2})
        started = time.monotonic()
        assert source.read(2) == []  # nothing written: no line, no waiting for one
        assert time.monotonic() - started < 1.0
        w.write(b"hel")
        assert source.read(2) == []  # half a line is kept, not handed out
        w.write(b"lo\r\nw\xc3")  # and half a character
        received = source.read(2)
        assert received is not None
        assert [r.event for r in received] == ["hello"]
        w.write(b"\xb6rld\nthree\nfour\n")
        received = source.read(2)
        assert received is not None
        assert [r.event for r in received] == ["wörld", "three"]  # no more than asked
        w.close()
        received = source.read(2)
        assert received is not None
        assert [r.event for r in received] == ["four"]
        assert source.read(2) is None


def test_a_line_that_does_not_decode_is_reported_and_the_others_go_on() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"good\nbad \xff\nafter\n")
    os.close(write_end)
    with open(read_end, encoding="utf-8") as stream:
        source = StdinLineSource(stream=stream, config={"retry_delay": 0.0})
        sink = ListSink()
        p = Pipeline("P", error_policy="soft")
        p.build(source, sink)
        report = pumpcore_executors.run(p, handle_signals=False)
    assert sink.Events == ["good", "after"]
    assert report.statistics["P"].source_error == 1


PUMP_SCRIPT = textwrap.dedent(
    """
    import sys
    import pumpcore_executors
    from pumpcore import Pipeline
    from pumpcore_stdio import PrintSink, StdinLineSource

    p = Pipeline("Upper")
    p.build(
        StdinLineSource(config={"read_size": 3}),
        lambda context, event: event.upper(),
        PrintSink(),
    )
    report = pumpcore_executors.run(p, executor=sys.argv[1])
    print("out", report.statistics["Upper"].event_out)
    """
)


@every_executor
def test_a_pump_reads_its_standard_input_through_a_pipe(executor: str) -> None:
    words = [f"word {i}" for i in range(50)]
    done = subprocess.run(
        [sys.executable, "-c", PUMP_SCRIPT, executor],
        input="".join(w + "\n" for w in words),
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [w.upper() for w in words] + ["out 50"]


@every_executor
def test_each_line_is_processed_as_soon_as_it_arrives(executor: str) -> None:
    # The writer waits for each answer before writing the next line: a source that waited for a
    # full batch (or for EOF) would deadlock here, and the timeout would fail the test.
    with subprocess.Popen(
        [sys.executable, "-u", "-c", PUMP_SCRIPT, executor],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        answers = []
        for word in ("one", "two", "three"):
            proc.stdin.write(word[:2])  # half a line first: it must wait for the rest
            proc.stdin.flush()
            time.sleep(0.05)
            proc.stdin.write(word[2:] + "\n")
            proc.stdin.flush()
            answers.append(proc.stdout.readline())
        proc.stdin.close()
        rest = proc.stdout.read()
        assert proc.wait(timeout=25) == 0
    assert answers == ["ONE\n", "TWO\n", "THREE\n"]
    assert rest == "out 3\n"
