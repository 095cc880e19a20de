"""Real servers for the adapters' tests: the machine's running services, servers a test starts
itself, and a loopback proxy that makes a server go away and come back.

A server a test needs and cannot reach fails the test; it is skipped (with the reason) only when
``PUMPCORE_SKIP_MISSING_SERVERS=1`` is set, which a developer's laptop without the services may
do and CI never does. DEVELOPERS.md lists the services and how each starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest

SKIP_ENV = "PUMPCORE_SKIP_MISSING_SERVERS"

# The services the machine starts before a session (DEVELOPERS.md), by name: (host, port).
SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "mosquitto": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
}


def missing(reason: str) -> None:
    """Fail, or skip when the developer asked to (``PUMPCORE_SKIP_MISSING_SERVERS=1``)."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{reason} ({SKIP_ENV}=1)")
    pytest.fail(f"{reason}; set {SKIP_ENV}=1 to skip such tests on a machine without it")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service(name: str) -> tuple[str, int]:
    """The address of one of the machine's services; fails (or skips) when it does not answer."""
    host, port = SERVICES[name]
    if not reachable(host, port):
        missing(f"the {name} service does not answer on {host}:{port}")
    return host, port


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Wait until host:port accepts connections; raise if the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise RuntimeError(f"{process.args!r} exited with {code} before listening")
        if reachable(host, port, timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not listen on {host}:{port} within {timeout} s")


def executable(name: str, *candidates: str) -> str:
    """The path of a server program, from PATH or the candidates; fails (or skips) if absent."""
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    missing(f"the server program {name!r} is not installed")
    raise AssertionError("unreachable")


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGKILL when the test process dies, so a run
    ended by a timeout (which skips fixture teardown) leaves no server behind."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class ChildServer:
    """A server process this test run starts, listening on host:port, ended by its PID.

    ``stop()`` then ``start()`` again makes the server go away and come back on the same port
    (what the reconnect tests need). Output goes to ``log`` (a file in the test's tmp folder).
    """

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        log: Path,
        host: str = "127.0.0.1",
        start_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.host, self.port = host, port
        self.log_path = log
        self.start_timeout = start_timeout
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ChildServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            # Linux ties the signal to the thread that forks, so only the main thread asks for it
            # (a server restarted from a worker thread would die when that thread ends).
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        try:
            wait_for_port(self.host, self.port, self.start_timeout, self.process)
        except RuntimeError as exc:
            self.stop()
            tail = self.log_path.read_bytes()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{exc}; its output ends with:\n{tail}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """End the process (``SIGKILL`` if it ignores ``sig`` for ``timeout`` seconds)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ChildServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class TcpProxy:
    """A loopback TCP proxy in front of a real server: ``cut()`` closes every connection and
    stops listening (the server is gone, as far as clients can tell), ``resume()`` listens again
    on the same port. For servers this run did not start and so must not stop (the machine's
    services)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def resume(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="TcpProxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            for a, b in self._pairs:
                for sock in (a, b):
                    with contextlib.suppress(OSError):
                        sock.close()
            self._pairs.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _serve(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data is None:
                        try:
                            client, _addr = sock.accept()
                            upstream = socket.create_connection(self.target, timeout=5)
                        except OSError:
                            continue
                        with self._lock:
                            self._pairs.append((client, upstream))
                        peers[client], peers[upstream] = upstream, client
                        for s in (client, upstream):
                            # No Nagle delay: a request-reply protocol (a publish and its
                            # confirm) would wait ~40 ms per round trip through the proxy.
                            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                            s.setblocking(False)
                            selector.register(s, selectors.EVENT_READ, "pipe")
                        continue
                    other = peers.get(sock)
                    try:
                        data = sock.recv(65536)
                        if data and other is not None:
                            other.setblocking(True)
                            other.sendall(data)
                            other.setblocking(False)
                    except OSError:
                        data = b""
                    if not data:
                        for end in (sock, other):
                            if end is not None and end in peers:
                                selector.unregister(end)
                                peers.pop(end, None)
                                end.close()
        finally:
            selector.close()

    def __enter__(self) -> TcpProxy:
        self.resume()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cut()


@contextlib.contextmanager
def proxied(name: str) -> Iterator[TcpProxy]:
    """A ``TcpProxy`` in front of one of the machine's services."""
    with TcpProxy(service(name)) as proxy:
        yield proxy
