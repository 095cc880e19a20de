"""KafkaConnection: where the brokers are and how to log in, shared by sources, sinks and the
topic initializer (BSPump's ``KafkaConnection``, a ``[connection:ID]`` config section).

Keys are librdkafka's names (``security.protocol``, ``sasl.username``, ``ssl.ca.location``…),
except BSPump's ``bootstrap_servers`` and ``client_id``. A key that looks secret
(``sasl.password``, ``ssl.key.password``) is never shown: not in errors, not in ``repr``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pumpcore import ConfigError, ConfigRule, Configurable, current_settings
from pumpcore.config import config_owner, non_empty, one_of


class KafkaConnection(Configurable):
    """The client settings of one Kafka cluster.

    Its config comes from its defaults, then the ``[connection:ID]`` section of the settings in
    force (``pumpcore run -c FILE`` or ``use_settings``), then ``config=``. Register it on the
    ``Pump`` (``pump.add_connection``) to name it by id from sources and sinks, or hand it to
    them directly.

    Config:
        bootstrap_servers: ``host:port`` of one or more brokers, comma-separated.
        client_id: how the brokers name this client in their logs and quotas.
        security.protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        sasl.mechanisms: ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``, ``GSSAPI`` or
            ``OAUTHBEARER`` (when the protocol is SASL_*).
        sasl.username, sasl.password: the SASL login (the password is never shown).
        ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.key.password,
        ssl.endpoint.identification.algorithm: TLS files and checks (empty: librdkafka's default).

    Example:
        >>> c = KafkaConnection("Kafka", config={"sasl.password": "hunter2"})
        >>> "hunter2" in repr(c)
        False
        >>> c.client_config()["bootstrap.servers"]
        'localhost:9092'
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "bootstrap_servers": "localhost:9092",
        "client_id": "pumpcore",
        "security.protocol": "PLAINTEXT",
        "sasl.mechanisms": "",
        "sasl.username": "",
        "sasl.password": "",
        "ssl.ca.location": "",
        "ssl.certificate.location": "",
        "ssl.key.location": "",
        "ssl.key.password": "",
        "ssl.endpoint.identification.algorithm": "",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "bootstrap_servers": non_empty(),
        "security.protocol": one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "sasl.mechanisms": one_of(
            "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"
        ),
    }

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(id, config)
        # The [connection:ID] section lies between the defaults and config=, as in BSPump.
        section = current_settings().section(f"connection:{self.Id}")
        if section:
            self.reconfigure(section)

    def apply_config(self) -> None:
        protocol = str(self.Config["security.protocol"])
        if protocol.startswith("SASL") and not self.Config["sasl.mechanisms"]:
            raise ConfigError(
                f"{config_owner(self)}: config key 'sasl.mechanisms' is empty; "
                f"security.protocol {protocol!r} needs one (PLAIN, SCRAM-SHA-256, ...)"
            )

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties every client of this connection gets (empty keys left out)."""
        config = self.Config
        out: dict[str, Any] = {
            "bootstrap.servers": str(config["bootstrap_servers"]),
            "client.id": str(config["client_id"]),
        }
        for key, value in config.items():
            if "." in key and value != "":
                out[key] = str(value)
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.Id!r}, bootstrap_servers="
            f"{self.Config['bootstrap_servers']!r}, security.protocol="
            f"{self.Config['security.protocol']!r})"
        )


def resolve_connection(owner: Configurable, connection: KafkaConnection | str) -> KafkaConnection:
    """The connection itself, or the one registered on the owner's pump under that id."""
    if isinstance(connection, KafkaConnection):
        return connection
    pipeline = getattr(owner, "Pipeline", None)
    pump = getattr(pipeline, "Pump", None)
    if pump is None:
        raise ConfigError(
            f"{config_owner(owner)}: connection {connection!r} is named by id, but the pipeline "
            "belongs to no Pump; register it with pump.add_connection or pass the "
            "KafkaConnection itself"
        )
    try:
        found = pump.locate_connection(connection)
    except KeyError as exc:
        raise ConfigError(f"{config_owner(owner)}: {exc.args[0]}") from None
    if not isinstance(found, KafkaConnection):
        raise ConfigError(
            f"{config_owner(owner)}: connection {connection!r} is a {type(found).__name__}, "
            "not a KafkaConnection"
        )
    return found


def parse_properties(owner: str, key: str, value: object) -> dict[str, Any]:
    """A mapping (extra librdkafka properties) from a dict, or a JSON object in a config file."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(
                f"{owner}: config key {key!r} expects a JSON object (its text is not shown: "
                "it may hold credentials)"
            ) from None
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{owner}: config key {key!r} expects a mapping, got {type(value).__name__}"
        )
    return {str(k): v for k, v in value.items()}


def parse_str_mapping(owner: str, key: str, value: object) -> dict[str, str | bytes | None]:
    """Message headers from a dict, or a JSON object in a config file: names to text."""
    return {k: str(v) for k, v in parse_properties(owner, key, value).items()}
