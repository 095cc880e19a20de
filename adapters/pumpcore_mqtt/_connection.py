"""MQTTConnection: where the broker is and how to reach it; the source and sink each make a paho
client from it.

paho runs its network loop on a thread of its own (``loop_start``) and reconnects by itself
(``reconnect_delay`` doubling up to ``max_reconnect_delay``); ``publish``, ``subscribe`` and
``ack`` are safe to call from other threads (paho guards its state with locks), so the adapters
call them from the executor's worker threads and learn outcomes from paho's callbacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from pumpcore import ConfigError, ConfigRule, Configurable
from pumpcore.config import in_range, positive

log = logging.getLogger("pumpcore.mqtt")


class MQTTConnection(Configurable):
    """Where the MQTT broker is (MQTT 3.1.1 over TCP); sources and sinks given the same
    connection each open their own client from it.

    Config:
        host, port: the broker.
        username, password: credentials (``password`` is masked like any secret config key).
        keepalive: seconds between pings when nothing else is sent.
        connect_timeout: how long ``open`` waits for the first connection before it fails.
        reconnect_delay: whole seconds before the first reconnection attempt, doubled after each
            failed one.
        max_reconnect_delay: the most the delay grows to.

    Example:
        >>> MQTTConnection(config={"host": "127.0.0.1", "password": "s3cret"})
        MQTTConnection('mqtt://127.0.0.1:1883')
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "host": "127.0.0.1",
        "port": 1883,
        "username": "",
        "password": "",
        "keepalive": 30,
        "connect_timeout": 10.0,
        "reconnect_delay": 1,
        "max_reconnect_delay": 30,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "port": in_range(1, 65535),
        "keepalive": in_range(1, 65535),
        "connect_timeout": positive() & in_range(0, 3600),
        "reconnect_delay": in_range(1, 3600),
        "max_reconnect_delay": in_range(1, 86400),
    }

    def apply_config(self) -> None:
        config = self.Config
        #: The broker's host name.
        self.Host = str(config["host"])
        #: The broker's port.
        self.Port = int(config["port"])
        if not self.Host:
            raise ConfigError(f"{type(self).__name__} {self.Id!r}: config key 'host' is empty")
        self.connect_timeout = float(config["connect_timeout"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"

    @property
    def address(self) -> str:
        """The broker as a URL, without credentials (fit for logs)."""
        return f"mqtt://{self.Host}:{self.Port}"

    def client(self, owner: str, client_id: str, *, persistent: bool, manual_ack: bool) -> Link:
        """A new link (not started) for ``owner`` (named in logs)."""
        return Link(self, owner, client_id, persistent=persistent, manual_ack=manual_ack)


class Link:
    """A paho client with its network thread; counts connections and disconnections, logs
    each outage once, and tells ``open`` when the first connection is up."""

    def __init__(
        self,
        connection: MQTTConnection,
        owner: str,
        client_id: str,
        *,
        persistent: bool,
        manual_ack: bool,
    ) -> None:
        self.connection = connection
        self.owner = owner
        #: Incremented on every (re)connection; positions of an older one are never acked.
        self.generation = 0
        #: Connections lost so far.
        self.disconnects = 0
        self.last_error = ""
        self._connected = threading.Event()
        self._closing = False
        self._closed = threading.Event()  # our DISCONNECT went out
        config = connection.Config
        self.client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=MQTTProtocolVersion.MQTTv311,
            manual_ack=manual_ack,
        )
        if config["username"]:
            self.client.username_pw_set(str(config["username"]), str(config["password"]) or None)
        self.client.reconnect_delay_set(
            int(config["reconnect_delay"]),
            max(int(config["reconnect_delay"]), int(config["max_reconnect_delay"])),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.on_connected: list[Any] = []  # called on paho's thread after each connection

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect and start paho's thread; wait for the first connection.

        Raises:
            ConnectionError: no connection within ``connect_timeout`` (the broker refused it,
                or nothing answered).
        """
        keepalive = int(self.connection.Config["keepalive"])
        try:
            self.client.connect_async(self.connection.Host, self.connection.Port, keepalive)
            self.client.loop_start()
        except OSError as exc:
            raise ConnectionError(f"{self.owner}: {self.connection.address}: {exc!r}") from exc
        if not self._connected.wait(self.connection.connect_timeout):
            self.close()
            raise ConnectionError(
                f"{self.owner}: cannot connect to {self.connection.address} within "
                f"{self.connection.connect_timeout} s{': ' if self.last_error else ''}"
                f"{self.last_error}"
            )

    def close(self) -> None:
        """Disconnect and end paho's thread, once what was queued before (acknowledgements)
        was written: paho writes its queue in order, and its thread would end without
        writing the rest."""
        self._closing = True
        was_connected = self._connected.is_set()
        self._connected.clear()
        self.generation += 1  # nothing read so far may be acknowledged any more
        self.client.disconnect()
        if was_connected:
            self._closed.wait(self.connection.connect_timeout)
        self.client.loop_stop()

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._closing:
            return
        if reason.is_failure:
            self.last_error = f"the broker refused the connection: {reason}"
            log.warning("%s: %s", self.owner, self.last_error)
            return
        self.generation += 1
        if self.disconnects:
            log.info("%s: connected again to %s", self.owner, self.connection.address)
        for callback in self.on_connected:
            callback(client, flags)
        self._connected.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._closing:
            self._closed.set()
            return
        if not self._connected.is_set():
            return  # a failed attempt
        self._connected.clear()
        self.disconnects += 1
        log.warning(
            "%s: connection to %s lost (%s); reconnecting",
            self.owner, self.connection.address, reason,
        )  # fmt: skip
