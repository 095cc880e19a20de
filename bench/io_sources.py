"""Benchmark: sources that do I/O, as plain stdlib code and through pumpcore, in one run.

Each case does the standard workload (``workload.py``: parse, enrich, filter, count) on records
that arrive through real I/O, once as the plain code a user would write and once through
pumpcore under each executor, and prints the ratio plain time / pumpcore time (1.0: as fast as
plain):

- ``file``: ``-n`` JSON lines in one file, read by ``FileLineSource`` (``watch`` off, ``post``
  noop) against ``for line in open(path, "rb")``;
- ``tcp``: ``--lines`` lines sent over one TCP connection on 127.0.0.1, received by the socket
  adapter's ``StreamServerSource`` against a plain ``socket`` server reading lines;
- ``webhook``: ``--posts`` POST requests (one record each) on ``--clients`` keep-alive
  connections, received by ``HTTPServerSource`` (which answers once the record is committed)
  against a plain ``http.server`` handler (which answers once it ran the workload).

The client of the tcp and webhook cases is a separate process (so that it does not compete for
this one's GIL), started and given its payload before the clock starts; a case's time runs from
handing it the server's address until the server processed every record and the client is done.
Each figure is the best of ``--repeat`` runs.

Run: ``python bench/io_sources.py [-n 300000] [--lines 50000] [--posts 600]
[--cases file,tcp,webhook] [--executors sync,threads,asyncio,trio]`` (the defaults keep each
case under about 30 s on two cores; the sizes differ because the sources' speeds do).

Instructions per event (``--instructions``, needs valgrind): runs the file case (or the
``--cases`` given: ``file``, ``tcp``) under ``valgrind --tool=callgrind`` at ``-n`` and at 3 x
``-n`` events, once plain and once per executor, and prints (instructions at 3n - instructions
at n) / 2n: start-up, imports and the interpreter's own setup cancel out (the tcp case's client
process is not traced). Use a small ``-n`` (callgrind is ~50 times slower), e.g.
``python bench/io_sources.py --instructions -n 20000 --executors sync`` or ``--instructions
--cases tcp -n 20000``. By hand, the same is::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.small \\
        python bench/io_sources.py --child file:sync -n 20000
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.large \\
        python bench/io_sources.py --child file:sync -n 60000
    grep summary /tmp/cg.small /tmp/cg.large   # (large - small) / 40000 per event

and ``callgrind_annotate /tmp/cg.large`` shows where they go.

(Not ``io.py``: this folder is put first on ``sys.path``, and mypy would take it for the
standard library's ``io``.)
"""

from __future__ import annotations

import argparse
import gc
import http.client
import http.server
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pumpcore_executors
from pumpcore_files import FileLineSource
from pumpcore_http import HTTPServerSource
from pumpcore_socket import StreamServerSource
from workload import CountSink, enrich, keep, make_lines, parse

from pumpcore import Pipeline, Received
from pumpcore.lowlevel import Rejected

CASES = ("file", "tcp", "webhook")


def workload(sink: CountSink, line: bytes) -> None:
    """The standard workload on one record, as ``workload.plain_loop`` runs it."""
    context: dict[str, Any] = {}
    event = parse(context, line)
    event = enrich(context, event)
    event = keep(context, event)
    if event is not None:
        sink.process(context, event)


# ---------------------------------------------------------------- the client process


def send(kind: str, n: int, clients: int) -> None:
    """The client (run with ``--send``): build the payload, say ready, read ``host port`` from
    stdin, send every record, exit."""
    lines = make_lines(n)
    print("ready", flush=True)
    host, port = sys.stdin.readline().split()
    if kind == "tcp":
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"\n".join(lines) + b"\n")
        return

    def post_share(share: Sequence[bytes]) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for body in share:
                conn.request("POST", "/", body=body)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise SystemExit(f"webhook answered {response.status}")
        finally:
            conn.close()

    threads = [
        threading.Thread(target=post_share, args=(lines[i::clients],)) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Sender:
    """A client process waiting, payload built, for the address to send to."""

    def __init__(self, kind: str, n: int, clients: int) -> None:
        command = [sys.executable, __file__, "--send", kind, "-n", str(n)]
        self.process = subprocess.Popen(
            [*command, "--clients", str(clients)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the client process did not start")

    def go(self, address: tuple[str, int]) -> None:
        """Hand it the address: it starts sending."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{address[0]} {address[1]}\n")
        self.process.stdin.close()

    def go_when_listening(self, address: Callable[[], tuple[str, int] | None]) -> None:
        """Hand it ``address()`` from a thread, once that is known (a source binds in ``open``)."""

        def wait() -> None:
            while (where := address()) is None:
                time.sleep(0.001)
            self.go(where)

        threading.Thread(target=wait, daemon=True).start()

    def wait(self) -> None:
        if self.process.wait(timeout=120) != 0:
            raise SystemExit("the client process failed")


# ---------------------------------------------------------------- the plain code


def plain_file(path: Path) -> int:
    sink = CountSink()
    with open(path, "rb") as f:
        for line in f:
            workload(sink, line)
    return sink.count


def plain_tcp(sender: Sender) -> int:
    sink = CountSink()
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender.go(server.getsockname()[:2])
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                workload(sink, line)
    return sink.count


def plain_webhook(sender: Sender, n: int) -> int:
    sink = CountSink()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the pumpcore server does

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                workload(sink, body)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        # A short poll: shutdown() waits for it, and the clock runs until this returns.
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        host, port = server.server_address[:2]
        sender.go((str(host), int(port)))
        sender.wait()
        server.shutdown()
    return sink.count


# ---------------------------------------------------------------- pumpcore


class TCPServer(StreamServerSource):
    """Ends its input once the client's connection ended and its lines were all read."""

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        items = await super().read(max_items)
        statistics = self.statistics()
        if not items and statistics.connections and not statistics.connections_open:
            return None
        return items

    def address(self) -> tuple[str, int] | None:
        if not self.addresses:
            return None
        host, port = self.addresses[0].split()
        return host, int(port)


class Webhook(HTTPServerSource):
    """Ends its input once ``n`` requests were queued and read (their answers go out as the
    run's stop sequence commits them)."""

    def __init__(self, n: int) -> None:
        super().__init__(config={"address": "127.0.0.1 0"})
        self.n = n

    async def read(self, max_items: int) -> Sequence[Received | Rejected] | None:
        items = await super().read(max_items)
        if not items and self.statistics().events >= self.n:
            return None
        return items


def piped(executor: str, source: Any) -> int:
    sink = CountSink()
    pipeline = Pipeline("bench")
    pipeline.build(source, parse, enrich, keep, sink)
    report = pumpcore_executors.run(
        pipeline,
        executor=executor,  # type: ignore[arg-type]
        batch_size=1024,
    )
    if report.errors:
        raise SystemExit(f"{executor}: {report.errors}")
    return sink.count


def pumpcore_file(executor: str, path: Path) -> int:
    config = {"path": str(path), "watch": False, "post": "noop"}
    return piped(executor, FileLineSource(config=config))


def pumpcore_tcp(executor: str, sender: Sender) -> int:
    source = TCPServer(config={"address": "127.0.0.1 0", "encoding": ""})
    sender.go_when_listening(source.address)
    return piped(executor, source)


def pumpcore_webhook(executor: str, sender: Sender, n: int) -> int:
    source = Webhook(n)
    sender.go_when_listening(lambda: source.address)
    return piped(executor, source)


# ---------------------------------------------------------------- measuring


def once(case: str, who: str, n: int, clients: int, path: Path) -> tuple[float, int]:
    """One timed run of ``case`` by ``who`` (``plain`` or an executor): seconds, sink count."""
    sender = Sender(case, n, clients) if case != "file" else None
    gc.collect()
    started = time.perf_counter()
    if case == "file":
        count = plain_file(path) if who == "plain" else pumpcore_file(who, path)
    elif case == "tcp":
        assert sender is not None
        count = plain_tcp(sender) if who == "plain" else pumpcore_tcp(who, sender)
    else:
        assert sender is not None
        count = plain_webhook(sender, n) if who == "plain" else pumpcore_webhook(who, sender, n)
    if sender is not None:
        sender.wait()
    return time.perf_counter() - started, count


def best_of(repeat: int, case: str, who: str, n: int, clients: int, path: Path) -> float:
    best, expected = float("inf"), sum(1 for i in range(n) if i % 10)
    for _ in range(repeat):
        elapsed, count = once(case, who, n, clients, path)
        if count != expected:
            raise SystemExit(f"{case} {who}: the sink got {count} events, expected {expected}")
        best = min(best, elapsed)
    return best


def instructions(case: str, n: int, executors: list[str], path_for: Callable[[int], Path]) -> None:
    """``--instructions``: per-event instruction counts of ``case`` under callgrind."""
    print(f"{case} case, instructions per event (callgrind, {n:,} and {3 * n:,} events)")
    with tempfile.TemporaryDirectory() as tmp:
        for who in ["plain", *executors]:
            totals = []
            for size in (n, 3 * n):
                out = os.path.join(tmp, f"cg.{who}.{size}")
                subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                     sys.executable, __file__, "--child", f"{case}:{who}", "-n", str(size),
                     "--data", str(path_for(size))],
                    check=True, capture_output=True,
                )  # fmt: skip
                found = re.search(r"^summary:\s*(\d+)", Path(out).read_text(), re.MULTILINE)
                assert found is not None, f"no summary in {out}"
                totals.append(int(found.group(1)))
            print(f"{who:<16} {(totals[1] - totals[0]) / (2 * n):>12,.0f}")


def write_lines(path: Path, n: int) -> Path:
    path.write_bytes(b"\n".join(make_lines(n)) + b"\n")
    return path


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300_000, help="lines of the file case")
    parser.add_argument("--lines", type=int, default=50_000, help="lines of the tcp case")
    parser.add_argument("--posts", type=int, default=600, help="requests of the webhook case")
    parser.add_argument("--clients", type=int, default=8, help="webhook client connections")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", help=f"default {','.join(CASES)} (file with --instructions)")
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--send", choices=["tcp", "webhook"], help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send(args.send, args.n, args.clients)
        return
    executors = args.executors.split(",")
    if args.child:  # one untimed run of a case, for --instructions
        case, who = args.child.split(":")
        once(case, who, args.n, args.clients, Path(args.data))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.instructions:
            for case in (args.cases or "file").split(","):
                path_for = lambda size: write_lines(Path(tmp, f"{size}"), size)  # noqa: E731
                instructions(case, args.n, executors, path_for)
            return
        path = write_lines(Path(tmp, "lines.jsonl"), args.n)
        for case in (args.cases or ",".join(CASES)).split(","):
            if case not in CASES:
                raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")
            n = {"file": args.n, "tcp": args.lines, "webhook": args.posts}[case]
            base = best_of(args.repeat, case, "plain", n, args.clients, path)
            print(f"{case:<8} plain     {n / base:>12,.0f} events/s")
            for executor in executors:
                t = best_of(args.repeat, case, executor, n, args.clients, path)
                print(f"{case:<8} {executor:<9} {n / t:>12,.0f} events/s   ratio {base / t:.2f}")


if __name__ == "__main__":
    main()
