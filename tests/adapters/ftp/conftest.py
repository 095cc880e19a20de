"""The FTP adapter's tests run against a real FTP server (pyftpdlib) started here, serving a
temporary folder on 127.0.0.1."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # On Python 3.11 pyftpdlib builds on the standard asyncore/asynchat, which warn on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

USER, PASSWORD = "pump", "secret"


class FTPd:
    """A pyftpdlib server in a thread, with its own I/O loop, serving ``root``."""

    def __init__(self, root: Path, *, without: frozenset[str] = frozenset()) -> None:
        self.root = root
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
        handler_attrs: dict[str, Any] = {
            "authorizer": authorizer,
            "banner": "pumpcore test",
            "auth_failed_timeout": 0,  # answer a wrong password at once
        }
        if without:  # commands this server pretends not to know (e.g. MLSD)
            handler_attrs["proto_cmds"] = {
                k: v for k, v in FTPHandler.proto_cmds.items() if k not in without
            }
        handler = type("TestHandler", (FTPHandler,), handler_attrs)
        self.ioloop = IOLoop()
        self.server = FTPServer(("127.0.0.1", 0), handler, ioloop=self.ioloop)
        self.host, self.port = self.server.address
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.ioloop.loop(timeout=0.02, blocking=False)
        self.server.close_all()

    def config(self, **extra: Any) -> dict[str, Any]:
        """FTPSource config that reaches this server."""
        return {
            "host": self.host,
            "port": self.port,
            "user": USER,
            "password": PASSWORD,
            "timeout": 5.0,
            **extra,
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def ftpd(tmp_path: Path) -> Iterator[FTPd]:
    root = tmp_path / "ftp-root"
    root.mkdir()
    server = FTPd(root)
    try:
        yield server
    finally:
        server.close()
