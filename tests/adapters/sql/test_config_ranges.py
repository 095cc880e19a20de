"""The PostgreSQL, MySQL and Redis components refuse out-of-range config at build, naming the
key and the value (a password masked), and need their required keys once in a pipeline."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from pumpcore_mysql import MySQLConnection, MySQLSink, MySQLSource
from pumpcore_postgres import PostgreSQLConnection, PostgreSQLSink, PostgreSQLSource
from pumpcore_redis import RedisConnection, RedisSink, RedisStreamSource

from pumpcore import ConfigError, Pipeline, Settings, use_settings
from pumpcore.common import IteratorSource, NullSink

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused


def _with(cls: Any, connection: Any) -> Any:
    factory = functools.partial(cls, connection=connection)
    factory.__name__ = cls.__name__  # type: ignore[attr-defined]
    return factory


PG, MY, RE = PostgreSQLConnection(), MySQLConnection(), RedisConnection()
FACTORIES = {
    "PostgreSQLSink": _with(PostgreSQLSink, PG),
    "PostgreSQLSource": _with(PostgreSQLSource, PG),
    "MySQLSink": _with(MySQLSink, MY),
    "MySQLSource": _with(MySQLSource, MY),
    "RedisSink": _with(RedisSink, RE),
    "RedisStreamSource": _with(RedisStreamSource, RE),
    "PostgreSQLConnection": PostgreSQLConnection,
    "MySQLConnection": MySQLConnection,
    "RedisConnection": RedisConnection,
}

BAD: list[tuple[str, str, object]] = [
    ("PostgreSQLConnection", "port", 0),
    ("PostgreSQLConnection", "port", 70000),
    ("PostgreSQLConnection", "connect_timeout", 0),
    ("PostgreSQLConnection", "reconnect_delay", NAN),
    ("PostgreSQLConnection", "reconnect_delay", -1),
    ("PostgreSQLConnection", "host", ""),
    ("MySQLConnection", "port", -1),
    ("MySQLConnection", "connect_timeout", 0),
    ("MySQLConnection", "reconnect_delay", INF),
    ("MySQLConnection", "charset", ""),
    ("RedisConnection", "socket_timeout", 0),
    ("RedisConnection", "socket_timeout", NAN),
    ("RedisConnection", "db", -1),
    ("RedisConnection", "reconnect_delay", INF),
    ("PostgreSQLSink", "method", "bulk"),
    ("PostgreSQLSink", "flush_timeout", NAN),
    ("PostgreSQLSink", "flush_timeout", -1),
    ("PostgreSQLSink", "upsert_key", "id"),  # not among the columns
    ("PostgreSQLSink", "columns", "a, a"),
    ("PostgreSQLSource", "fetch_size", 0),
    ("PostgreSQLSource", "fetch_size", 10**9),
    ("PostgreSQLSource", "on_error", "stop"),
    ("MySQLSink", "flush_timeout", INF),
    ("MySQLSink", "upsert_key", "id"),
    ("MySQLSource", "fetch_size", 0),
    ("MySQLSource", "on_error", "ignore"),
    ("RedisSink", "mode", "set"),
    ("RedisSink", "maxlen", -1),
    ("RedisSink", "flush_timeout", NAN),
    ("RedisStreamSource", "block", 0),
    ("RedisStreamSource", "block", 3600),
    ("RedisStreamSource", "claim_idle", -1),
    ("RedisStreamSource", "encoding", "no-such-codec"),
    ("RedisStreamSource", "group", ""),
    ("RedisStreamSource", "read_size", 0),
]


@pytest.mark.parametrize(("name", "key", "value"), BAD)
def test_bad_values_are_refused_at_construction(name: str, key: str, value: object) -> None:
    assert_refused(FACTORIES[name], key, value)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_defaults_are_accepted(name: str) -> None:
    assert_defaults_accepted(FACTORIES[name])


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("PostgreSQLSink", "table"),
        ("PostgreSQLSource", "query"),
        ("MySQLSink", "table"),
        ("MySQLSource", "query"),
        ("RedisSink", "key"),
        ("RedisStreamSource", "stream"),
    ],
)
def test_a_required_key_left_empty_is_refused_in_a_pipeline(name: str, key: str) -> None:
    config = {"columns": "a"} if name.endswith("Sink") and key == "table" else {}
    component = FACTORIES[name](config=config)
    steps = (component, NullSink()) if name.endswith("Source") else (IteratorSource([]), component)
    with pytest.raises(ConfigError, match=f"config key '{key}' is empty"):
        Pipeline("P").build(*steps)


@pytest.mark.parametrize("cls", [PostgreSQLConnection, MySQLConnection, RedisConnection])
def test_the_connection_section_applies_and_the_password_never_shows(cls: Any) -> None:
    settings = Settings.from_ini("[connection:C]\nhost = db.example\npassword = hunter2\n")
    with use_settings(settings):
        connection = cls("C")
    assert connection.Config["host"] == "db.example"
    assert "hunter2" not in repr(connection)
    with pytest.raises(ConfigError) as info:
        cls("C", config={"password": 5, "port": "x"})
    assert "hunter2" not in str(info.value)
