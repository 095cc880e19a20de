"""TLS for every stream server (the line server, the webhook, the WebSocket server): the same
keys, the same certificate loading, the same counted handshake failures.

Rules:
1. ``cert`` and ``key`` (PEM files: the certificate chain and its key) go together; setting
   both serves TLS. They are loaded in ``open`` (in a worker thread: reading files), so a bad
   file fails the run at start, naming both keys.
2. A client has ``handshake_timeout`` seconds to finish the handshake. A failing handshake ends
   that connection only, and is counted and reported (rate-limited) by the source through the
   listener's callback; anyio's default would log a traceback per failing client, which a port
   scanner turns into log spam.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import AnyByteStream, Listener
from anyio.streams.tls import TLSListener

from pumpcore import ConfigError, ConfigRule, config_value_repr
from pumpcore.config import positive

#: The TLS keys of a stream server, with their defaults.
TLS_DEFAULTS: Mapping[str, Any] = {"cert": "", "key": "", "handshake_timeout": 10.0}
TLS_RULES: Mapping[str, ConfigRule] = {"handshake_timeout": positive()}


def check_tls_keys(owner: str, config: Mapping[str, Any]) -> None:
    """Rule 1, at build time.

    Raises:
        ConfigError: only one of ``cert`` and ``key`` is set.
    """
    if bool(config["cert"]) != bool(config["key"]):
        raise ConfigError(f"{owner}: config keys 'cert' and 'key' go together; give both")


async def load_tls(owner: str, config: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The server's TLS context, or None without ``cert``.

    Raises:
        ConfigError: the certificate or key could not be loaded.
    """
    if not config["cert"]:
        return None
    try:
        return await anyio.to_thread.run_sync(
            _load_ssl_context, str(config["cert"]), str(config["key"])
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{owner}: cannot load TLS 'cert' {config_value_repr('cert', config['cert'])} and "
            f"'key' {config_value_repr('key', config['key'])}: {exc}"
        ) from exc


def tls_listener(
    listener: Listener[Any],
    context: ssl.SSLContext,
    handshake_timeout: float,
    on_handshake_error: Callable[[BaseException], None],
) -> Listener[Any]:
    """``listener`` serving TLS connections (rule 2)."""
    return _CountingTLSListener(
        listener,
        context,
        standard_compatible=False,
        handshake_timeout=handshake_timeout,
        on_handshake_error=on_handshake_error,
    )


@dataclass(eq=False)
class _CountingTLSListener(TLSListener):
    """anyio's ``TLSListener``, with handshake failures handed to a callback (rule 2)."""

    on_handshake_error: Callable[[BaseException], None] = field(kw_only=True)

    # The base declares it a staticmethod; this one needs the listener's callback. The call
    # site (``self.handle_handshake_error(exc, stream)``) is the same for both.
    async def handle_handshake_error(  # type: ignore[override]
        self, exc: BaseException, stream: AnyByteStream
    ) -> None:
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, anyio.get_cancelled_exc_class()) or not isinstance(exc, Exception):
            raise exc
        self.on_handshake_error(exc)


def _load_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # No TLS 1.3 session tickets: the server never writes after the handshake then. A client
    # that sends its lines and closes without reading the tickets would otherwise have its
    # kernel answer them with a reset, and the server's read could fail before the last lines.
    context.num_tickets = 0
    return context
