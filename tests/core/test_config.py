"""Configuration: defaults through the hierarchy, INI sections, config=, and clear errors."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from pumpcore import (
    ConfigError,
    ConfigWarning,
    Pipeline,
    Processor,
    Settings,
    check_settings,
    config_value_repr,
    is_secret_config_key,
    use_settings,
)
from pumpcore.common import IteratorSource, ListSink, NullSink


class Base(Processor):
    ConfigDefaults: ClassVar[dict[str, Any]] = {"size": 10, "name": "base", "ratio": 0.5}


class Child(Base):
    ConfigDefaults: ClassVar[dict[str, Any]] = {"name": "child", "enabled": False}


INI = """
[pipeline:P]
sample_every = 50

[pipeline:P:Child]
size = 20
enabled = yes
"""


def test_defaults_merge_along_the_class_hierarchy() -> None:
    assert Child().Config == {"size": 10, "name": "child", "ratio": 0.5, "enabled": False}


def test_ini_sections_then_config_dict_override_defaults() -> None:
    settings = Settings.from_ini(INI)
    p = Pipeline("P", settings=settings)
    child = Child(p, config={"ratio": "0.25"})
    assert p.Config["sample_every"] == 50
    assert child.Config == {"size": 20, "name": "child", "ratio": 0.25, "enabled": True}


def test_sections_apply_when_a_component_joins_at_build_time() -> None:
    with use_settings(Settings.from_ini(INI)):
        p = Pipeline("P")
    child = Child()
    assert child.Config["size"] == 10
    p.build([], child, ListSink())
    assert child.Config["size"] == 20


def test_unknown_key_names_component_key_and_value() -> None:
    with pytest.raises(ConfigError) as info:
        Child(id="c1", config={"sise": 3})
    message = str(info.value)
    assert "Child 'c1'" in message
    assert "'sise'" in message
    assert "3" in message
    assert "size" in message  # the known keys are listed


def test_wrong_type_names_component_key_and_value() -> None:
    with pytest.raises(
        ConfigError, match=r"Child 'Child': config key 'size' expects int, got 'ten'"
    ):
        Child(config={"size": "ten"})
    with pytest.raises(ConfigError, match="expects bool"):
        Child(config={"enabled": "maybe"})


def test_bad_ini_value_raises_at_build_time() -> None:
    p = Pipeline("P", settings=Settings.from_ini("[pipeline:P:Child]\nsize = huge\n"))
    with pytest.raises(ConfigError, match=r"'size'.*'huge'"):
        p.build([], Child(), ListSink())


def test_invalid_ini_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid configuration file"):
        Settings.from_ini("no section header\n")


def test_settings_merge_and_from_mapping() -> None:
    a = Settings.from_mapping({"pipeline:P": {"x": 1}})
    b = Settings.from_mapping({"pipeline:P": {"y": True}, "lookup:L": {"path": "/tmp/l.json"}})
    merged = a.merged(b)
    assert merged.section("pipeline:P") == {"x": "1", "y": "True"}
    assert merged.section("lookup:L") == {"path": "/tmp/l.json"}
    assert merged.section("absent") == {}


def test_error_policy_is_validated() -> None:
    with pytest.raises(ConfigError, match="error_policy"):
        Pipeline("P", error_policy="lenient")  # type: ignore[arg-type]


class Window(Processor):
    ConfigDefaults: ClassVar[dict[str, Any]] = {"seconds": 60.0}

    def apply_config(self) -> None:
        if self.Config["seconds"] <= 0:
            raise ConfigError(f"Window {self.Id!r}: seconds must be > 0")
        self.width = self.Config["seconds"]


def test_apply_config_runs_at_construction_and_again_on_joining_a_pipeline() -> None:
    window = Window()
    assert window.width == 60.0
    p = Pipeline("P", settings=Settings.from_ini("[pipeline:P:Window]\nseconds = 5\n"))
    p.build([], window, ListSink())
    assert window.width == 5.0
    bad = Pipeline("Q", settings=Settings.from_ini("[pipeline:Q:Window]\nseconds = -1\n"))
    with pytest.raises(ConfigError, match="seconds must be > 0"):
        bad.build([], Window(), ListSink())


@pytest.mark.parametrize(
    "key",
    ["password", "db_password", "passwd", "pwd", "secret", "clientSecret", "access-token",
     "token", "key", "api_key", "apikey", "apiKey", "APIKey", "private_key", "ssl.key",
     "credentials", "passphrase"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_config_key(key)
    assert config_value_repr(key, "hunter2") == "'***'"


@pytest.mark.parametrize(
    "key", ["keyword", "keys", "max_tokens", "keyfile", "url", "user", "path", "size"]
)
def test_keys_that_are_not_secret(key: str) -> None:
    assert not is_secret_config_key(key)
    assert config_value_repr(key, "shown") == "'shown'"


class Login(Processor):
    ConfigDefaults: ClassVar[dict[str, Any]] = {"user": "", "password": "", "key_size": 2048}


def test_an_unknown_secret_key_does_not_show_its_value() -> None:
    with pytest.raises(ConfigError) as info:
        Login(config={"api_key": "hunter2"})
    message = str(info.value)
    assert "'api_key' (value '***')" in message
    assert "hunter2" not in message


def test_a_badly_typed_secret_does_not_show_its_value() -> None:
    with pytest.raises(ConfigError) as info:
        Login(config={"key_size": "hunter2"})
    assert str(info.value) == "Login 'Login': config key 'key_size' expects int, got '***'"


def test_a_line_that_does_not_parse_is_named_not_quoted() -> None:
    with pytest.raises(ConfigError, match=r"cannot parse line\(s\) 3") as info:
        Settings.from_ini("[pipeline:P:Login]\nuser = me\npassword hunter2\n")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="line 1 comes before any") as info:
        Settings.from_ini("password hunter2\n")
    assert "hunter2" not in str(info.value)


def _pipelines(settings: Settings) -> list[Pipeline]:
    def enrich(context: dict[str, Any], event: Any) -> Any:
        return event

    p = Pipeline("P", settings=settings)
    p.build(IteratorSource([], id="In"), Child(), enrich, ListSink(id="Out"))
    p.set_dead_letter(NullSink(id="Dead"))
    Base(p, id="Helper")  # joins without being a step, as helper components do
    q = Pipeline("Q:eu", settings=settings)  # an id with ':' in it
    q.build([], NullSink())
    return [p, q]


def test_sections_naming_what_exists_pass() -> None:
    settings = Settings.from_mapping(
        {
            name: {}
            for name in (
                "pipeline:P",
                "pipeline:P:In",
                "pipeline:P:Child",
                "pipeline:P:enrich",
                "pipeline:P:Out",
                "pipeline:P:Dead",
                "pipeline:P:Helper",
                "pipeline:Q:eu",
                "pipeline:Q:eu:NullSink",
                "connection:Kafka",
                "lookup:Users",
            )
        }
    )
    assert check_settings(settings, _pipelines(settings)) == ()


def test_sections_naming_unknown_pipelines_or_components_warn() -> None:
    settings = Settings.from_mapping(
        {"pipeline:P:Chlid": {"size": 3}, "pipeline:R": {}, "pipeline:Q:eu:Sink": {}}
    )
    pipelines = _pipelines(settings)
    with pytest.warns(ConfigWarning) as record:
        problems = check_settings(settings, pipelines)
    assert [str(w.message) for w in record] == list(problems)
    assert problems[0].startswith(
        "config section [pipeline:P:Chlid] names no component of pipeline 'P'; "
        "did you mean 'Child'? (components: Child, Dead, Helper, In, Out, enrich)"
    )
    assert problems[1] == (
        "config section [pipeline:R] names no pipeline of this run (pipelines: P, Q:eu)"
    )
    assert problems[2].startswith("config section [pipeline:Q:eu:Sink] names no component")


def test_strict_settings_check_raises() -> None:
    settings = Settings.from_mapping({"pipeline:Pp": {}, "pipeline:P:Nope": {}})
    pipelines = _pipelines(settings)
    with pytest.raises(
        ConfigError, match=r"\[pipeline:Pp\].*did you mean 'P'.*\[pipeline:P:Nope\]"
    ):
        check_settings(settings, pipelines, strict=True)
