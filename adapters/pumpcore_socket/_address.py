"""Socket addresses as BSPump writes them in config: ``"host port"`` or a Unix socket path.

Rules:
1. An entry with whitespace is ``"host port"`` (``"127.0.0.1 8888"``, ``"0.0.0.0 8083"``,
   ``":: 8080"``), split at the last whitespace so IPv6 hosts need no brackets.
2. Otherwise an entry with a ``/`` is a Unix socket path (``/run/pump.sock``, ``./pump.sock``).
3. Otherwise ``"host:port"`` and ``"[v6]:port"`` are read as host and port, the obsolete form
   BSPump's ``StreamClientSink`` still accepts; anything else (``pump.sock``) is a path.
4. A server source may list several addresses separated by newlines (BSPump's multi-line config
   value) or ``;`` (easier to write in a dict); a sink takes exactly one.
5. Addresses are written back in the same form (``"127.0.0.1 54321"``, the path), so what a
   server reports (``.addresses``, ``stream_me``) can be pasted into a client's config.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import attrs

from pumpcore import ConfigError, config_value_repr

_HOST_COLON_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*)):(?P<port>\d+)$")


@attrs.frozen
class Address:
    """One parsed address: ``path`` for a Unix socket, else ``host`` and ``port``.

    ``host`` None means every interface (written ``*`` in config).
    """

    host: str | None = None
    port: int = 0
    path: str | None = None

    @property
    def is_unix(self) -> bool:
        """True for a Unix socket path."""
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        return f"{'*' if self.host is None else self.host} {self.port}"


def _one(owner: str, key: str, text: str) -> Address:
    host: str | None
    if any(c.isspace() for c in text):
        host, port = text.rsplit(None, 1)
    elif "/" in text:
        return Address(path=text)
    elif (match := _HOST_COLON_PORT.match(text)) is not None:
        host = match["v6"] if match["v6"] is not None else match["host"]
        port = match["port"]
    else:
        return Address(path=text)
    host = host.strip()
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"{owner}: config key {key!r} expects 'host port' (e.g. '127.0.0.1 8888') or a Unix "
            f"socket path; the port in {config_value_repr(key, text)} is not a number in 0-65535"
        )
    return Address(host=None if host in ("", "*") else host, port=int(port))


def parse_addresses(owner: str, key: str, value: Any, *, many: bool) -> tuple[Address, ...]:
    """Parse a config value into addresses (see the module rules).

    Args:
        owner: names the component in error messages.
        key: the config key, for error messages.
        value: the config value.
        many: accept several addresses (server sources); else exactly one.

    Raises:
        ConfigError: no address, several where one is expected, or a bad port.
    """
    entries = [e.strip() for e in re.split(r"[\n;]", str(value)) if e.strip()]
    if not entries:
        raise ConfigError(f"{owner}: config key {key!r} is empty; give 'host port' or a path")
    if not many and len(entries) > 1:
        raise ConfigError(
            f"{owner}: config key {key!r} takes one address, got {config_value_repr(key, value)}"
        )
    return tuple(_one(owner, key, entry) for entry in entries)


def format_sockaddr(sockaddr: Any) -> str:
    """A socket address as config text: ``(host, port[, ...])`` → ``"host port"``; a Unix
    address (a path, possibly empty for an unnamed peer) as it is."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return f"{sockaddr[0]} {sockaddr[1]}"
    if isinstance(sockaddr, bytes):
        return sockaddr.decode(errors="backslashreplace")
    return str(sockaddr)


def family_name(family: int) -> str:
    """``AF_INET``, ``AF_INET6`` or ``AF_UNIX`` (BSPump's ``stream_type``)."""
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)
