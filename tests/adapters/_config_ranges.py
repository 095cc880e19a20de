"""Shared checks for the adapters' declared config ranges (``ConfigRules``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, cast

import pytest

from pumpcore import ConfigError, Configurable, config_value_repr

NAN, INF = float("nan"), float("inf")


def assert_refused(factory: Callable[..., Configurable], key: str, value: object) -> None:
    """Building with ``{key: value}`` raises a ConfigError naming the component, key and value."""
    with pytest.raises(ConfigError) as info:
        factory(config={key: value})
    message = str(info.value)
    name = getattr(factory, "__name__", "")
    assert message.startswith(f"{name} "), message
    assert f"config key {key!r} " in message, message
    # The value as given, or as converted to the default's type (-1 -> -1.0, "nan" -> nan).
    shown = {config_value_repr(key, value)}
    for kind in (int, float):
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            shown.add(config_value_repr(key, kind(cast(Any, value))))
    assert any(message.endswith(f"got {s}") for s in shown), message


def assert_defaults_accepted(factory: Callable[..., Any]) -> None:
    """The defaults pass every declared rule."""
    component = factory()
    for key, rule in type(component).config_rules().items():
        if key in component.Config:
            assert rule.test(component.Config[key]), (key, component.Config[key])
