"""Helpers for the socket adapter's tests: a pipeline runs under an executor in the test's thread
while real clients (plain ``socket`` objects) talk to it from a worker thread, over 127.0.0.1 and
Unix sockets in ``tmp_path``.

A run ends as soon as the test's expectations are met instead of waiting out ``stop_after``: the
clock handed to the executor is the system clock until ``done()`` holds, then it jumps a day
ahead, past the deadline, and the executor stops cleanly at its next step. ``stop_after`` stays
the bound when they are never met (the assertions then say what is missing).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName, RunReport

from pumpcore import Pipeline
from pumpcore.testing import conformance

from ...executors.conftest import run_kwargs

T = TypeVar("T")

# How long a run may take at most when its expectations are never met.
STOP_AFTER = 10.0


@pytest.fixture(params=conformance.executor_params())
def executor(request: pytest.FixtureRequest) -> ExecutorName:
    """The name of an executor: sync, threads, asyncio, trio."""
    return cast(ExecutorName, request.param)


class EndWhenClock:
    """The system clock, a day ahead once ``done()`` holds (see the module docstring)."""

    is_virtual = False

    def __init__(self, done: Callable[[], bool]) -> None:
        self.done = done

    def time(self) -> float:
        """Wall time, or a day later once done."""
        return time.time() + (86400.0 if self.done() else 0.0)

    def sleep_until(self, deadline: float) -> None:
        """Sleep in short slices, so that ``done()`` is noticed promptly."""
        while self.time() < deadline:
            time.sleep(min(0.01, max(0.0, deadline - self.time())))


def run_with_client(
    pipelines: Sequence[Pipeline],
    executor: ExecutorName,
    client: Callable[[], T],
    done: Callable[[], bool],
    *,
    stop_after: float = STOP_AFTER,
) -> tuple[RunReport, T]:
    """Run ``pipelines`` while ``client()`` runs in a worker thread; stop once the client
    returned and ``done()`` holds (or after ``stop_after`` seconds)."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(client)
        clock = EndWhenClock(lambda: future.done() and done())
        report = pumpcore_executors.run(
            *pipelines,
            executor=executor,
            clock=clock,
            stop_after=stop_after,
            **run_kwargs(executor),
        )
        return report, future.result(timeout=10)


def wait_for_addresses(source: Any, timeout: float = 10.0) -> tuple[str, ...]:
    """A server source's bound addresses, once the executor opened it."""
    deadline = time.monotonic() + timeout
    while not source.addresses:
        if time.monotonic() > deadline:
            raise TimeoutError("the source never started listening")
        time.sleep(0.005)
    addresses: tuple[str, ...] = source.addresses
    return addresses


def host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1 54321"`` → ``("127.0.0.1", 54321)``."""
    host, port = address.rsplit(None, 1)
    return host, int(port)


def connect(address: str, timeout: float = 5.0) -> socket.socket:
    """A client socket connected to ``address`` ("host port" or a Unix socket path)."""
    if " " in address:
        return socket.create_connection(host_port(address), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def send(address: str, *payloads: bytes, pause: float = 0.0) -> str:
    """Connect, send ``payloads`` (pausing between them), close; return the client's own
    address as the server sees it ("host port", or "" over a Unix socket)."""
    with connect(address) as sock:
        name = sock.getsockname()
        for i, payload in enumerate(payloads):
            if i and pause:
                time.sleep(pause)
            sock.sendall(payload)
    return f"{name[0]} {name[1]}" if isinstance(name, tuple) else ""


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (in a client thread) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.005)


class LineServer:
    """A plain blocking TCP (or Unix) server in a thread, for the sinks to write to: it serves
    one connection at a time and keeps what each one sent.

    Args:
        path: listen on this Unix socket path instead of 127.0.0.1 and a free port.
        close_after: end the first connection once this many lines came on it...
        reset: ...with a reset (SO_LINGER 0) instead of an orderly close.
    """

    def __init__(
        self, path: str | None = None, *, close_after: int | None = None, reset: bool = False
    ) -> None:
        if path is None:
            self.sock = socket.create_server(("127.0.0.1", 0))
            host, port = self.sock.getsockname()
            self.address = f"{host} {port}"
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.sock.listen()
            self.address = path
        self.sock.settimeout(0.02)
        self.close_after = close_after
        self.reset = reset
        self.received: list[bytes] = []
        self.first_closed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def lines(self) -> list[bytes]:
        """Every complete line received so far, over all connections, in order."""
        return [line for data in list(self.received) for line in data.split(b"\n")[:-1]]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self._read(conn, len(self.received))

    def _read(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(0.02)
        self.received.append(b"")
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            self.received[index] += data
            limit = self.close_after
            if index == 0 and limit is not None and self.received[0].count(b"\n") >= limit:
                if self.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                self.first_closed.set()
                return

    def close(self) -> None:
        """Stop serving; close the listening socket."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def line_server() -> Iterator[LineServer]:
    """A ``LineServer`` on 127.0.0.1."""
    server = LineServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=[p for p in conformance.executor_params() if p.id in ("asyncio", "trio")])
def async_backend(request: pytest.FixtureRequest) -> str:
    """An async library to drive an adapter's coroutines with directly: asyncio, trio."""
    name: str = request.param
    return name
