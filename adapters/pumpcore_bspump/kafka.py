"""BSPump's ``bspump.kafka``: ``pumpcore_kafka`` with BSPump's signatures.

``KafkaConnection(app, id=None, config=None)`` reads ``[connection:ID]``; sources and sinks take
``(app, pipeline, connection, ...)`` with the connection's id, located in the application's
PumpService when the component is made (register the connection first, as in BSPump).
Differences (docs/migrating-from-bspump.md): ``group_id`` is required (offsets are committed to
the group only after the sinks wrote), and ``KafkaSink`` routes by ``context["kafka_topic"]``
only with ``topic_from = kafka_topic``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._later import needs

try:
    import pumpcore_kafka as _kafka
    from pumpcore_kafka import KafkaDeliveryError as KafkaDeliveryError
except ImportError as _exc:
    raise needs("kafka", _exc) from None

from pumpcore import ConfigError, Context, Pipeline

from ._adapt import (
    BSPumpConnected,
    adapt,
    adapt_connected,
    adapt_connection,
    check_arguments,
    locate_connection,
)

__all__ = (
    "KafkaConnection",
    "KafkaDeliveryError",
    "KafkaKeyFilter",
    "KafkaSink",
    "KafkaSource",
    "KafkaTopicInitializer",
)

KafkaConnection = adapt_connection(_kafka.KafkaConnection, __name__)
KafkaSource = adapt_connected(_kafka.KafkaSource, __name__, _kafka.KafkaConnection)
KafkaKeyFilter = adapt(_kafka.KafkaKeyFilter, __name__, ("keys", "id", "config"))


class KafkaSink(BSPumpConnected, _kafka.KafkaSink):
    """BSPump's ``KafkaSink(app, pipeline, connection, key_serializer=None, id=None,
    config=None)``: ``key_serializer`` turns the context's key (``context["kafka_key"]``, or
    the ``key_from`` key) into the message key."""

    ConnectionClass = _kafka.KafkaConnection

    def __init__(
        self,
        app: object = None,
        pipeline: Any = None,
        connection: Any = None,
        key_serializer: Callable[[Any], Any] | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if key_serializer is not None and not callable(key_serializer):
            raise ConfigError(f"KafkaSink: key_serializer must be callable, got {key_serializer!r}")
        self.KeySerializer = key_serializer
        super().__init__(app, pipeline, connection, id=id, config=config)

    def process(self, context: Context, event: Any) -> None:
        """The message, its key serialized first when a ``key_serializer`` was given."""
        key_from = str(self.Config["key_from"])
        serializer = self.KeySerializer
        if serializer is not None and key_from and context.get(key_from) is not None:
            context = {**context, key_from: serializer(context[key_from])}
        super().process(context, event)


class KafkaTopicInitializer(_kafka.KafkaTopicInitializer):
    """BSPump's ``KafkaTopicInitializer(app, connection, id=None, config=None)``: topics from
    its config (``topics``) and from ``include_topics``, created by ``initialize_topics()``."""

    def __init__(
        self,
        app: object = None,
        connection: Any = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        check_arguments("KafkaTopicInitializer", app, None, id, config)
        self.App = app
        found = locate_connection(
            "KafkaTopicInitializer", app, connection, _kafka.KafkaConnection
        )  # fmt: skip
        super().__init__(found, id, config)

    def apply_config(self) -> None:
        """pumpcore's, except that no ``topics`` is no error: BSPump includes them later."""
        if self.Config["topics"] in (None, "", []):
            self.Topics = []
            return
        super().apply_config()

    def include_topics(
        self,
        *,
        topic_config: Any = None,
        kafka_component: Any = None,
        pipeline: Pipeline | None = None,
        config_file: Any = None,
    ) -> None:
        """Add the topics of a Kafka source or sink, or of every one in ``pipeline``.

        Raises:
            ConfigError: ``topic_config`` or ``config_file`` (give topics in the ``topics`` config
                key instead), or a component that is not a Kafka source or sink.
        """
        if topic_config is not None or config_file is not None:
            raise ConfigError(
                "KafkaTopicInitializer.include_topics: topic_config and config_file are not "
                "supported; list the topics in the `topics` config key (num_partitions and "
                "replication_factor apply to each)"
            )
        components: list[Any] = [] if kafka_component is None else [kafka_component]
        if pipeline is not None:
            components += [*pipeline.iter_sources(), *pipeline.iter_processors()]
            components.append(pipeline.locate_sink())
        for component in components:
            self._include(component, strict=component is kafka_component)

    def _include(self, component: Any, strict: bool) -> None:
        if isinstance(component, _kafka.KafkaSource):
            names: Iterable[str] = [topic for topic, _ in component.Topics]
        elif isinstance(component, _kafka.KafkaSink):
            names = [str(component.Config["topic"])] if component.Config["topic"] else []
        elif strict:
            raise ConfigError(
                f"KafkaTopicInitializer.include_topics: {component!r} is not a Kafka source or sink"
            )
        else:
            return
        for name in names:
            if name not in self.Topics:
                self.Topics.append(name)

    def initialize_topics(self) -> list[str]:
        """Create the topics that do not exist yet; the ones created (BSPump's name)."""
        return self.initialize()
