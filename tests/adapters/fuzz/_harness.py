"""The fuzz suite's harness: a server source runs under an executor (in the test's thread) while
attackers and a valid client talk to it over 127.0.0.1 from a worker thread.

The source can be *stalled* (its ``read`` hands nothing to the pipeline), as a pipeline that
stopped taking events would leave it: what clients send then piles up in the server, and the
tests check that it stays within the stated bound (``max_buffered_bytes``, reported by the
source as ``buffered_bytes_max``) and that the process's resident memory grows by less than
``RSS_BOUND``.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pumpcore_executors
from pumpcore_executors import ExecutorName, RunHandle, RunReport

from pumpcore import Pipeline, Received
from pumpcore.lowlevel import Rejected

from ...executors.conftest import run_kwargs

T = TypeVar("T")

# Limits every server in the suite runs with: small, so that the attacks reach them fast.
MAX_CONNECTIONS = 16
IDLE_TIMEOUT = 0.4
MAX_BUFFERED_BYTES = 256 * 1024
LIMITS: dict[str, Any] = {
    "max_connections": MAX_CONNECTIONS,
    "idle_timeout": IDLE_TIMEOUT,
    "max_buffered_bytes": MAX_BUFFERED_BYTES,
}
# The most the process's resident memory may grow during one attack run.
RSS_BOUND = 64 * 2**20


def rss() -> int:
    """This process's resident memory, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Stall:
    """A switch a source's ``read`` consults: while on, it hands nothing to the pipeline."""

    def __init__(self) -> None:
        self.on = threading.Event()

    async def gate(
        self, read: Callable[[int], Any], max_items: int
    ) -> Sequence[Received | Rejected] | None:
        """``read(max_items)``, or nothing while stalled (after the read's own short wait)."""
        if self.on.is_set():
            import anyio

            await anyio.sleep(0.02)
            return []
        result: Sequence[Received | Rejected] | None = await read(max_items)
        return result


def run_attack(
    pipeline: Pipeline,
    executor: ExecutorName,
    ready: Callable[[], bool],
    attack: Callable[[], T],
    *,
    limit: float = 20.0,
) -> tuple[RunReport, T, int]:
    """Run ``pipeline`` until ``attack()`` (in a worker thread, started once ``ready()``) has
    returned; return the report, the attack's result and the RSS growth meanwhile."""
    handle = RunHandle()
    before = rss()
    peak = [before]

    def job() -> T:
        try:
            deadline = time.monotonic() + 10
            while not ready():
                if time.monotonic() > deadline:
                    raise TimeoutError("the server never started listening")
                time.sleep(0.005)
            return attack()
        finally:
            peak[0] = max(peak[0], rss())
            handle.stop()

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(job)
        report = pumpcore_executors.run(
            pipeline,
            executor=executor,
            handle=handle,
            until_stopped=True,
            stop_after=limit,
            **run_kwargs(executor),
        )
        result = future.result(timeout=10)
    return report, result, peak[0] - before


def garbage(seed: int, n: int, size: int) -> list[bytes]:
    """``n`` blobs of random bytes without a newline, never valid UTF-8 (each ends in a lone
    continuation byte)."""
    rng = random.Random(seed)
    blobs = [bytes(rng.randrange(256) for _ in range(size)) + b"\x80" for _ in range(n)]
    return [blob.replace(b"\n", b"-") for blob in blobs]


def flood(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` connections opened at once (the caller closes them)."""
    socks = []
    for _ in range(n):
        sock = socket.create_connection((host, port), timeout=5)
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True once the server closed ``sock`` (EOF or reset), reading and dropping what it sent."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def push_until_blocked(sock: socket.socket, chunk: bytes, most: int, stuck: float = 0.3) -> int:
    """Send ``chunk`` repeatedly until the server stops taking (a send blocks ``stuck`` s) or
    ``most`` bytes went; return how many bytes went."""
    sock.settimeout(stuck)
    sent = 0
    try:
        while sent < most:
            sent += sock.send(chunk)
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        pass
    return sent
