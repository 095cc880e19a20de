"""Config refusals: each bad value is refused at construction, naming the component, the key and
the value (a password masked); connections come from ``[connection:ID]`` sections and the pump."""

from __future__ import annotations

from typing import Any

import pytest
from pumpcore_kafka import (
    KafkaConnection,
    KafkaDeadLetterSink,
    KafkaKeyFilter,
    KafkaSink,
    KafkaSource,
    KafkaTopicInitializer,
)

from pumpcore import ConfigError, Pipeline, Pump, Settings, use_settings

from .._config_ranges import INF, NAN, assert_defaults_accepted, assert_refused


def source(config: dict[str, Any] | None = None) -> KafkaSource:
    return KafkaSource(config={"topic": "t", "group_id": "g", **(config or {})})


source.__name__ = "KafkaSource"


def initializer(config: dict[str, Any] | None = None) -> KafkaTopicInitializer:
    return KafkaTopicInitializer(KafkaConnection(), config={"topics": "t", **(config or {})})


initializer.__name__ = "KafkaTopicInitializer"

REFUSED = [
    (KafkaConnection, "bootstrap_servers", ""),
    (KafkaConnection, "security.protocol", "TLS"),
    (KafkaConnection, "sasl.mechanisms", "PLAINTEXT"),
    (source, "group_id", ""),
    (source, "auto.offset.reset", "smallest-ish"),
    (source, "decode", "latin-1"),
    (source, "poll_timeout", 0),
    (source, "poll_timeout", NAN),
    (source, "read_size", 0),
    (KafkaSink, "flush_timeout", -1),
    (KafkaSink, "flush_timeout", INF),
    (KafkaDeadLetterSink, "flush_timeout", 0),
    (initializer, "num_partitions", 0),
    (initializer, "replication_factor", 0),
    (initializer, "timeout", NAN),
]


@pytest.mark.parametrize(("factory", "key", "value"), REFUSED)
def test_bad_values_are_refused_at_construction(factory: Any, key: str, value: object) -> None:
    assert_refused(factory, key, value)


@pytest.mark.parametrize(
    "factory", [KafkaConnection, source, KafkaSink, KafkaDeadLetterSink, initializer]
)
def test_defaults_are_accepted(factory: Any) -> None:
    assert_defaults_accepted(factory)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "names no topic"),
        ("a,,b", "empty topic name"),
        ("a:x", "not a number"),
        ("a:0,b", "mixes topics and topic:partition"),
    ],
)
def test_bad_topic_lists_are_refused(topic: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        source({"topic": topic})
    assert str(info.value).startswith("KafkaSource 'KafkaSource': config key 'topic'")


def test_topics_as_list_string_and_partitions() -> None:
    assert source({"topic": ["a", "b"]}).Topics == [("a", None), ("b", None)]
    assert source({"topic": "a:0, a:2"}).Topics == [("a", 0), ("a", 2)]


def test_the_source_owns_auto_commit() -> None:
    with pytest.raises(ConfigError, match=r"'enable\.auto\.commit', which the source owns"):
        source({"consumer": {"enable.auto.commit": True}})
    with pytest.raises(ConfigError, match="JSON object"):
        source({"consumer": "session.timeout.ms=6000"})


def test_sasl_needs_a_mechanism_and_the_password_is_never_shown() -> None:
    with pytest.raises(ConfigError, match=r"sasl\.mechanisms"):
        KafkaConnection(config={"security.protocol": "SASL_SSL"})
    with pytest.raises(ConfigError) as info:
        KafkaConnection(config={"sasl.password": ["hunter2"]})
    assert "hunter2" not in str(info.value)
    connection = KafkaConnection(
        config={"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
                "sasl.username": "u", "sasl.password": "hunter2"}
    )  # fmt: skip
    assert "hunter2" not in repr(connection)
    assert connection.client_config()["sasl.password"] == "hunter2"


def test_a_connection_section_configures_the_connection() -> None:
    settings = Settings.from_ini(
        "[connection:Kafka]\nbootstrap_servers = broker:9093\nclient_id = pump-1\n"
    )
    with use_settings(settings):
        connection = KafkaConnection("Kafka", config={"client_id": "given"})
    assert connection.client_config()["bootstrap.servers"] == "broker:9093"
    assert connection.client_config()["client.id"] == "given"  # config= lies on top


def test_connections_are_located_by_id_through_the_pump() -> None:
    pump = Pump()
    connection = pump.add_connection(KafkaConnection("Kafka"))
    assert pump.locate_connection("Kafka") is connection
    with pytest.raises(ConfigError, match="two connections"):
        pump.add_connection(KafkaConnection("Kafka"))
    with pytest.raises(KeyError, match="no connection 'Other' \\(known: Kafka\\)"):
        pump.locate_connection("Other")
    sink = KafkaSink(connection="Other", config={"topic": "t"})
    p = Pipeline("P")
    p.build(source(), sink)
    pump.add_pipeline(p)
    with pytest.raises(ConfigError, match="KafkaSink 'KafkaSink': Pump: no connection 'Other'"):
        sink.open()


def test_key_filter_keeps_listed_keys() -> None:
    f = KafkaKeyFilter(keys=[b"a", "b"])
    assert [f.process({"kafka_key": k}, k) for k in (b"a", b"b", b"c", None)] == [
        b"a", b"b", None, None
    ]  # fmt: skip


def test_a_dead_letter_sink_needs_a_topic() -> None:
    sink = KafkaDeadLetterSink(connection=KafkaConnection())
    with pytest.raises(ConfigError, match="KafkaDeadLetterSink 'KafkaDeadLetterSink': config key"):
        sink.open()
