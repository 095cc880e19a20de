"""What a file source finds, it reads or counts as failed with its reason: symlink loops under
``**`` end, names too long for the marks fail once, names that merely contain the state-file
mark are read, and names that are not UTF-8 keep contexts JSON-safe."""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from pumpcore_executors import ExecutorName
from pumpcore_files import FileJSONLinesSink, FileLineSource, FileReadError
from pumpcore_files._offsets import NAME_MAX, OffsetStore

from pumpcore import Context, Failure, Pipeline, Processor
from pumpcore.testing import VirtualClock, conformance

from .test_sources import build, finite, run

pytestmark = pytest.mark.timeout(60)

every_executor = pytest.mark.parametrize("executor", conformance.executor_params())


def tree(root: Path) -> list[Path]:
    """Every regular file below ``root``, not following symlinks."""
    return sorted(
        Path(folder, name)
        for folder, _, files in os.walk(root)
        for name in files
        if not Path(folder, name).is_symlink()
    )


@every_executor
def test_symlink_loops_under_a_recursive_glob_end_and_each_file_is_read_once(
    tmp_path: Path, executor: ExecutorName
) -> None:
    deep = tmp_path / "in" / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "in" / "top.log").write_bytes(b"top\n")
    (deep / "deep.log").write_bytes(b"deep\n")
    # Four loops: the standard glob walks 4**40 paths here (until ELOOP) and never ends.
    for i, target in enumerate(["..", "../..", ".", "../../.."]):
        os.symlink(target, deep / f"loop{i}")
    os.symlink(deep, tmp_path / "in" / "again")  # a second path to the same folder
    source = FileLineSource(config=finite(tmp_path / "in" / "**" / "*.log"))
    p, sink, failures = build(source)
    started = time.monotonic()
    run(p, executor)
    assert time.monotonic() - started < 20
    assert sorted(sink.Events) == [b"deep", b"top"]  # once each, not once per path
    assert failures == []
    assert source.statistics().files_processed == 2


@every_executor
def test_names_too_long_for_the_marks_fail_once_with_their_reason(
    tmp_path: Path, executor: ExecutorName
) -> None:
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    fits = limit - len("-processed")  # the longest name that can be locked and moved
    lengths = [200, 239, 240, fits - 1, fits, fits + 1, limit - len("-locked"), limit]
    name = {n: "x" * (n - 4) + ".log" for n in lengths}
    for n in lengths:
        (tmp_path / name[n]).write_bytes(f"{n}\n".encode())
    source = FileLineSource(config={"path": str(tmp_path / "*.log"), "poll_interval": 1.0})
    p, sink, failures = build(source)
    # Watching: five more scans must not report (or count) a failed name again.
    run(p, executor, clock=VirtualClock(), stop_after=5)
    read = sorted(int(e) for e in sink.Events)
    assert read == [n for n in lengths if n <= fits]
    too_long = [n for n in lengths if n > fits]
    errors = [f.exception for f in failures]
    assert len(errors) == len(too_long)
    for error in errors:
        assert isinstance(error, FileReadError)
        assert isinstance(error.__cause__, OSError)
        assert error.__cause__.errno == errno.ENAMETOOLONG
        assert "-processed" in str(error)
    assert source.statistics().files_failed == len(too_long)
    assert source.statistics().files_processed == len(read)
    # The long ones untouched, under their names; no state file left behind.
    assert sorted(os.listdir(tmp_path)) == sorted(
        [name[n] + "-processed" for n in read] + [name[n] for n in too_long]
    )


def test_state_file_names_fit_whatever_the_length_of_the_name(tmp_path: Path) -> None:
    for store in (OffsetStore(), OffsetStore(str(tmp_path / "state"))):
        names = {str(tmp_path / (c * n)) for n in (1, 230, 247, 255) for c in "ab"}
        names.add(str(tmp_path / os.fsdecode(b"\xc3\xa9" * 127 + b"\xff")))  # cut mid-character
        paths = {store.path_for(name) for name in names}
        assert len(paths) == len(names)  # cut names are told apart by their hash
        for path in paths:
            assert len(os.fsencode(Path(path).name + ".tmp")) <= NAME_MAX
            assert store.is_state_file(path)


@every_executor
def test_names_containing_the_state_mark_are_input_like_any_other(
    tmp_path: Path, executor: ExecutorName
) -> None:
    (tmp_path / "report.pumpcore-offset.csv").write_bytes(b"a\n")
    (tmp_path / "x.pumpcore-offset").write_bytes(b"b\n")
    (tmp_path / ".hidden.pumpcore-offset").write_bytes(b"state\n")  # the reserved form
    source = FileLineSource(config=finite(tmp_path / "*"))
    p, sink, _ = build(source)
    run(p, executor)
    assert sorted(sink.Events) == [b"a", b"b"]
    assert source.statistics().files_processed == 2


class FileNameIntoEvent(Processor):
    def process(self, context: Context, event: Any) -> Any:
        return {"line": event.decode(), "file": context["filename"]}


@every_executor
def test_names_not_valid_utf8_give_contexts_json_can_hold(
    tmp_path: Path, executor: ExecutorName
) -> None:
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.log")
    Path(odd).write_bytes(b"latte\n")
    out = tmp_path / "out.jsonl"
    source = FileLineSource(config=finite(tmp_path / "*.log"))
    p = Pipeline("Files")
    p.build(source, FileNameIntoEvent(), FileJSONLinesSink(config={"path": str(out)}))
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    run(p, executor)
    assert failures == []
    [record] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert record == {"line": "latte", "file": str(tmp_path / "caf\\xe9.log")}
    assert os.path.exists(odd + "-processed")  # the exact name was renamed


# Names with what broke scans before: long ones, the state mark, bytes that are not UTF-8,
# leading dots (hidden: not matched by "*", so not "found"), spaces and marks.
_name = st.one_of(
    st.sampled_from(
        ["a", "b.log", "x.pumpcore-offset", "r.pumpcore-offset.csv", ".hid", "sp ace", "é"]
    ),
    st.binary(min_size=1, max_size=12).map(
        lambda b: os.fsdecode(b.replace(b"/", b"_").replace(b"\0", b"_").lstrip(b".") or b"n")
    ),
    st.integers(200, NAME_MAX).map(lambda n: "L" * n),
)


def _path_of(entry: tuple[list[str], str]) -> tuple[str, ...]:
    return (*entry[0], entry[1])


_trees = st.lists(
    st.tuples(st.lists(st.sampled_from(["d", "e", "é"]), max_size=2), _name),
    min_size=1,
    max_size=8,
    unique_by=_path_of,
)


@every_executor
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=_trees, loops=st.booleans())
def test_every_file_found_is_read_or_counted_failed(
    executor: ExecutorName, files: list[tuple[list[str], str]], loops: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        written: dict[str, bytes] = {}
        for folders, name in files:
            folder = root.joinpath(*folders)
            path = folder / name
            if path.exists() or any(p.is_file() for p in path.parents):
                continue  # a folder and a file of the same name: keep the first
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(name.encode("utf-8", "surrogateescape").hex().encode() + b"\n")
            written[str(path)] = path.read_bytes().rstrip(b"\n")
        if loops and not (root / "loop-link").exists():
            os.symlink("..", root / "loop-link")
        found = {
            str(p)
            for p in tree(root)
            if not any(part.startswith(".") for part in p.relative_to(root).parts)
        }
        source = FileLineSource(config=finite(root / "**" / "*"))
        p, sink, failures = build(source)
        run(p, executor)
        failed = {e.exception.filename for e in failures if isinstance(e.exception, FileReadError)}
        read_lines = sorted(sink.Events)
        assert sorted(written[n] for n in found - failed) == read_lines
        assert failed <= found
        stats = source.statistics()
        assert stats.files_processed + stats.files_failed == len(found)
        assert stats.files_failed == len(failed)


class HugeOffsets(FileLineSource):
    """Reports offsets past what a position holds (a decompressed stream of 256 TiB)."""

    def iter_records(self, filename: str, f: Any) -> Any:
        yield b"small", 1
        yield b"huge", 2**48


@every_executor
def test_an_offset_positions_cannot_hold_fails_the_file(
    tmp_path: Path, executor: ExecutorName
) -> None:
    (tmp_path / "a.log").write_bytes(b"x\n")
    source = HugeOffsets(config=finite(tmp_path / "*.log"))
    p, sink, failures = build(source)
    run(p, executor)
    assert sink.Events == []
    [failure] = failures
    assert isinstance(failure.exception, FileReadError)
    assert "beyond the 2**48" in str(failure.exception)
    assert os.listdir(tmp_path) == ["a.log-failed"]
