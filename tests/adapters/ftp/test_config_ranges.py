"""The FTP source refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

import pytest
from pumpcore_ftp import FTPSource

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[str, object]] = [
    ("port", 0),
    ("port", 70000),
    ("mode", "records"),
    ("block_size", 0),
    ("block_size", 10**12),
    ("encoding", "rot13"),
    ("encoding", "base64"),
    ("encoding", "klingon"),
    ("timeout", NAN),
    ("timeout", INF),
    ("timeout", -1),
    ("poll_interval", NAN),
    ("poll_interval", -1),
    ("retry_delay", INF),
    ("read_size", 10**12),
]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_bad_values_are_refused_at_construction(key: str, value: object) -> None:
    assert_refused(FTPSource, key, value)


def test_defaults_are_accepted() -> None:
    assert_defaults_accepted(FTPSource)
