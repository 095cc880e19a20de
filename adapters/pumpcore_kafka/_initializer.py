"""KafkaTopicInitializer: creates the topics a pump needs before it runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from pumpcore import ConfigError, ConfigRule, Configurable
from pumpcore.config import config_owner, in_range, positive

from ._connection import KafkaConnection
from ._topics import parse_topics


class KafkaTopicInitializer(Configurable):
    """Creates topics with a number of partitions and a replication factor through the admin
    API (BSPump's ``KafkaTopicInitializer``). Idempotent: a topic that exists is left as it is
    (its partitions are not changed).

    Config:
        topics: the topics: a list or a comma-separated string.
        num_partitions: partitions of each topic created.
        replication_factor: replicas of each partition.
        timeout: seconds to wait for the brokers.

    Example:
        >>> init = KafkaTopicInitializer(KafkaConnection(), config={"topics": "a,b"})
        >>> init.Topics
        ['a', 'b']
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "topics": None,
        "num_partitions": 1,
        "replication_factor": 1,
        "timeout": 30.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "num_partitions": in_range(1, 100_000),
        "replication_factor": in_range(1, 1000),
        "timeout": positive(),
    }

    def __init__(
        self,
        connection: KafkaConnection,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.Connection = connection
        super().__init__(id, config)

    def apply_config(self) -> None:
        owner = config_owner(self)
        topics = parse_topics(owner, "topics", self.Config["topics"])
        if any(p is not None for _, p in topics):
            raise ConfigError(
                f"{owner}: config key 'topics' names partitions, got {self.Config['topics']!r}; "
                "give topic names and num_partitions"
            )
        #: The topics to create.
        self.Topics = [t for t, _ in topics]

    def initialize(self) -> list[str]:
        """Create the topics that do not exist; return those created (blocking).

        Raises:
            KafkaException: a topic could not be created (other than because it exists).
        """
        admin = AdminClient(self.Connection.client_config())
        timeout = float(self.Config["timeout"])
        new = [
            NewTopic(
                topic,
                num_partitions=int(self.Config["num_partitions"]),
                replication_factor=int(self.Config["replication_factor"]),
            )
            for topic in self.Topics
        ]
        created = []
        for topic, future in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            else:
                created.append(topic)
        return created
