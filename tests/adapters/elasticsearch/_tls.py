"""A front for a plain server: a real TLS endpoint (trustme's throwaway CA and certificate), or
plain TCP, forwarding bytes both ways and keeping what clients sent (to see the credentials a
client sends: neither test server checks them)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

import trustme

from ...servers import free_port


class TlsFront:
    """Listens on 127.0.0.1 with TLS (or without: ``tls=False``); each connection is piped to
    ``target`` in plain TCP; ``sent`` is every byte clients sent."""

    def __init__(self, target: tuple[str, int], folder: Path, *, tls: bool = True) -> None:
        self.target = target
        self.ca = trustme.CA()
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.context)
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.sent = bytearray()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TlsFront:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        client = raw
        if self.tls:
            try:
                client = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()  # a client that does not trust us hangs up in the handshake
                return
        with client, socket.create_connection(self.target) as upstream:
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream, self.sent)
            back.join(5)


def _pipe(source: socket.socket, target: socket.socket, keep: bytearray | None = None) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            if keep is not None:
                keep += data
            target.sendall(data)
    for sock in (source, target):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
