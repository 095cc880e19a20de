"""The stdin source refuses out-of-range config at build, naming the key and the value."""

from __future__ import annotations

import pytest
from pumpcore_stdio import StdinLineSource

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused

BAD: list[tuple[str, object]] = [
    ("read_timeout", NAN),
    ("read_timeout", INF),
    ("read_timeout", -1),
    ("read_timeout", 10**9),
    ("poll_interval", NAN),
    ("poll_interval", -1),
    ("retry_delay", NAN),
    ("read_size", 0),
]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_bad_values_are_refused_at_construction(key: str, value: object) -> None:
    assert_refused(StdinLineSource, key, value)


def test_defaults_are_accepted() -> None:
    assert_defaults_accepted(StdinLineSource)
