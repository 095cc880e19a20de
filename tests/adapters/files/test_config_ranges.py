"""The file sources and sinks refuse out-of-range config at build, naming the key and the value
(their ``ConfigRules``); a negative or NaN ``poll_interval`` never reaches a busy loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pumpcore_files import (
    FileBlockSink,
    FileBlockSource,
    FileCSVSink,
    FileCSVSource,
    FileJSONLinesSink,
    FileJSONSource,
    FileLineSource,
    FileMultiLineSource,
)

from pumpcore import Configurable

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

# Every file source shares these (FileABCSource's rules and IOSource's).
SOURCE_BAD: list[tuple[str, object]] = [
    ("mode", "w"),
    ("post", "archive"),
    ("encoding", "utf-16"),  # a newline is not the byte 0x0A: lines would be misread
    ("encoding", "utf-32"),
    ("encoding", "rot13"),  # not a text codec
    ("encoding", "base64"),
    ("encoding", "klingon"),
    ("max_open_files", 0),
    ("max_open_files", 10**9),
    ("offset_commit_every", 0),
    ("offset_commit_interval", -1),
    ("offset_commit_interval", NAN),
    ("offset_commit_interval", INF),
    ("poll_interval", -1),
    ("poll_interval", NAN),
    ("poll_interval", INF),
    ("retry_delay", -0.5),
    ("retry_delay", NAN),
    ("read_size", 0),
    ("read_size", 10**12),
]

CSV_SOURCE_BAD: list[tuple[str, object]] = [
    ("mode", "rb"),  # CSV is text
    ("dialect", "nope"),
    ("strict", "maybe"),
    ("doublequote", "2"),
    ("quoting", "QUOTE_SOMETIMES"),
    ("quoting", -1),
]

SINK_BAD: list[tuple[Callable[..., Configurable], str, object]] = [
    (FileCSVSink, "max_open_files", 0),
    (FileCSVSink, "encoding", "utf-16"),
    (FileCSVSink, "encoding", "rot13"),
    (FileCSVSink, "encoding", ""),
    (FileCSVSink, "dialect", "nope"),
    (FileBlockSink, "mode", "w"),
    (FileBlockSink, "flags", "O_SYNC"),
    (FileBlockSink, "flags", "O_CREAT, O_TRUNC"),
    (FileBlockSink, "max_open_files", -1),
    (FileJSONLinesSink, "mode", "ab"),
    (FileJSONLinesSink, "max_open_files", 0),
]

SOURCES: list[Callable[..., Configurable]] = [
    FileLineSource,
    FileMultiLineSource,
    FileCSVSource,
    FileJSONSource,
    FileBlockSource,
]


def with_path(cls: Callable[..., Configurable]) -> Callable[..., Configurable]:
    """``cls`` built with a path, keeping its name (the refusal names the class)."""

    def build(config: dict[str, Any] | None = None) -> Configurable:
        return cls(config={"path": "/nonexistent/*", **(config or {})})

    build.__name__ = getattr(cls, "__name__", "")
    return build


@pytest.mark.parametrize("cls", SOURCES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("key", "value"), SOURCE_BAD)
def test_bad_source_values_are_refused_at_construction(
    cls: Callable[..., Configurable], key: str, value: object
) -> None:
    assert_refused(with_path(cls), key, value)


@pytest.mark.parametrize(("key", "value"), CSV_SOURCE_BAD)
def test_bad_csv_source_values_are_refused_at_construction(key: str, value: object) -> None:
    assert_refused(with_path(FileCSVSource), key, value)


@pytest.mark.parametrize(("cls", "key", "value"), SINK_BAD)
def test_bad_sink_values_are_refused_at_construction(
    cls: Callable[..., Configurable], key: str, value: object
) -> None:
    assert_refused(with_path(cls), key, value)


@pytest.mark.parametrize(
    "cls",
    [*SOURCES, FileCSVSink, FileBlockSink, FileJSONLinesSink],
    ids=lambda c: c.__name__,
)
def test_defaults_are_accepted(cls: Callable[..., Configurable]) -> None:
    assert_defaults_accepted(with_path(cls))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("encoding", "latin-1"),
        ("encoding", "cp1250"),
        ("encoding", ""),
        ("quoting", "QUOTE_ALL"),
        ("quoting", "3"),
        ("strict", "yes"),
        ("dialect", "excel-tab"),
    ],
)
def test_good_csv_values_are_accepted_from_ini_text(key: str, value: str) -> None:
    source = FileCSVSource(config={"path": "/nonexistent/*", key: value})
    assert source.Config[key] == value
