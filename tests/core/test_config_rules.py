"""Declared config ranges (``ConfigRules``): bad values are refused at build, naming the
component, the key and the value; the defaults pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from pumpcore import (
    ConfigError,
    ConfigRule,
    IOSource,
    Pipeline,
    Processor,
    Settings,
    check_config,
)
from pumpcore.common import Aggregator, NullSink
from pumpcore.config import (
    at_least,
    config_owner,
    finite,
    in_range,
    non_empty,
    one_of,
    optional,
    positive,
    text_codec,
)

NAN, INF = float("nan"), float("inf")


def test_rules_accept_and_refuse() -> None:
    cases: list[tuple[ConfigRule, list[Any], list[Any]]] = [
        (finite(), [0, -1.5, 10**400], [NAN, INF, -INF, "1", True, None]),
        (at_least(0), [0, 0.0, 3, 10**30], [-1, -0.001, NAN, INF, True]),
        (positive(), [1e-9, 5], [0, -1, NAN, INF]),
        (in_range(1, 2**20), [1, 2**20], [0, 2**20 + 1, 10**12, NAN, INF]),
        (one_of("a", "b"), ["a", "b"], ["c", None, ""]),
        (non_empty(), ["x"], ["", "   ", None, 3]),
        (text_codec(), ["utf-8", "latin-1", "ASCII", "cp1250", "utf-16"],
         ["rot13", "rot_13", "base64", "hex", "zlib", "bz2", "uu", "nope", "", None]),
        (optional(positive()), [None, 2], [0, NAN]),
        (at_least(0) & finite(), [1], [-1, INF]),
    ]  # fmt: skip
    for rule, good, bad in cases:
        for value in good:
            assert rule.test(value), (rule.expects, value)
        for value in bad:
            assert not rule.test(value), (rule.expects, value)


def test_check_names_owner_key_and_value_and_masks_secrets() -> None:
    with pytest.raises(ConfigError, match=r"^X 'x': config key 'n' must be a finite number > 0, "):
        check_config("X 'x'", {"n": NAN}, {"n": positive()})
    with pytest.raises(ConfigError) as info:
        check_config("X 'x'", {"api_key": "hunter2"}, {"api_key": one_of("a")})
    assert "hunter2" not in str(info.value)
    assert "'***'" in str(info.value)
    check_config("X 'x'", {}, {"n": positive()})  # absent keys are not checked


class Window(Processor):
    ConfigDefaults: ClassVar[Mapping[str, Any]] = {"seconds": 1.0, "mode": "a"}
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "seconds": positive(),
        "mode": one_of("a", "b"),
    }


class NarrowWindow(Window):
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"seconds": in_range(1, 10)}


def test_rules_merge_along_the_hierarchy_and_apply_to_config_files() -> None:
    assert NarrowWindow.config_rules().keys() == {"seconds", "mode"}
    with pytest.raises(ConfigError, match=r"'seconds' must be a number from 1 to 10, got 11\.0"):
        NarrowWindow(config={"seconds": 11})
    with pytest.raises(ConfigError, match="'mode' must be one of 'a', 'b', got 'c'"):
        NarrowWindow(config={"mode": "c"})
    assert config_owner(Window(id="w")) == "Window 'w'"
    p = Pipeline("P", settings=Settings.from_ini("[pipeline:P:w]\nseconds = nan\n"))
    with pytest.raises(ConfigError, match=r"Window 'w': config key 'seconds' .* got nan"):
        p.build([], Window(id="w"), NullSink())


class Reader(IOSource):
    pass


# (component, key, value given, the value as the message shows it once converted)
CORE_BAD: list[tuple[type[Any], str, object, str]] = [
    (Reader, "read_size", 0, "0"),
    (Reader, "read_size", -5, "-5"),
    (Reader, "read_size", 10**12, "1000000000000"),
    (Reader, "read_size", "nan", "'nan'"),  # not an int at all
    (Reader, "poll_interval", -1, "-1.0"),
    (Reader, "poll_interval", NAN, "nan"),
    (Reader, "poll_interval", INF, "inf"),
    (Reader, "poll_interval", "nan", "nan"),
    (Reader, "retry_delay", -0.5, "-0.5"),
    (Reader, "retry_delay", NAN, "nan"),
    (Reader, "retry_delay", "-inf", "-inf"),
    (Pipeline, "async_concurency_limit", 0, "0"),
    (Pipeline, "async_concurency_limit", -1, "-1"),
    (Pipeline, "sample_every", 0, "0"),
    (Pipeline, "sample_every", -3, "-3"),
    (Pipeline, "error_policy", "lenient", "'lenient'"),
    (Aggregator, "completion_size", -1, "-1"),
    (Aggregator, "completion_timeout", NAN, "nan"),
    (Aggregator, "completion_timeout", -1, "-1.0"),
    (Aggregator, "completion_interval", INF, "inf"),
]


@pytest.mark.parametrize(("cls", "key", "value", "shown"), CORE_BAD)
def test_core_bad_values_are_refused_at_construction(
    cls: type[Any], key: str, value: object, shown: str
) -> None:
    with pytest.raises(ConfigError) as info:
        cls(config={key: value})
    message = str(info.value)
    assert message.startswith(f"{cls.__name__} ")
    assert f"config key {key!r} " in message
    assert message.endswith(f"got {shown}")


@pytest.mark.parametrize("cls", [Reader, Pipeline, Aggregator])
def test_core_defaults_are_accepted(cls: type[Any]) -> None:
    component = cls()
    for key, rule in cls.config_rules().items():
        assert rule.test(component.Config[key]), key
