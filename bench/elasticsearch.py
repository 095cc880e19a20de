"""Benchmark: the Elasticsearch bulk sink against a hand-written bulk loop, in one run.

Both write the same ``-n`` documents into their own index of the same server, in bulk requests
of ``--batch`` documents: the plain side is the loop a user would write (``requests.Session``,
NDJSON built with orjson, the answer's ``errors`` checked), the pumpcore side is
``IteratorSource → ElasticSearchSink`` under each executor, flushed every ``--batch`` events
(``commit_every``) and cut into bulks of ``--batch`` (``bulk_max_count``), reading every
item's outcome. It prints each side's rate and the ratio plain time / pumpcore time (1.0: as
fast as the loop; the target is >= 0.8). Each figure is the best of ``--repeat`` runs. The
batch is a multiple of the executors' pump slice (256), so that every flush is whole bulks.

The server is noida-db's Elasticsearch API (a dev extra), started here on a free port with a
temporary data folder and ended by PID; ``--url`` uses a running cluster instead.

Run: ``python bench/elasticsearch.py [-n 100000] [--batch 1024] [--repeat 3]
[--executors sync,threads,asyncio,trio] [--url http://127.0.0.1:9200]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pumpcore_executors
import requests
from pumpcore_elasticsearch import ElasticSearchConnection, ElasticSearchSink

from pumpcore import Pipeline
from pumpcore.common import IteratorSource


def documents(n: int) -> list[dict[str, Any]]:
    """``n`` log-like documents."""
    return [
        {"n": i, "host": f"h{i % 50}", "status": 200 + i % 7, "bytes": i * 13 % 9000,
         "path": f"/api/v1/items/{i % 977}", "ts": 1_700_000_000 + i}
        for i in range(n)
    ]  # fmt: skip


def plain(url: str, index: str, docs: list[dict[str, Any]], batch: int) -> float:
    """The hand-written loop: one bulk request per ``batch`` documents."""
    started = time.perf_counter()
    with requests.Session() as session:
        for start in range(0, len(docs), batch):
            body = b"".join(
                b'{"create":{}}\n' + orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
                for doc in docs[start : start + batch]
            )
            response = session.post(
                f"{url}/{index}/_bulk",
                data=body,
                headers={"Content-Type": "application/x-ndjson"},
                timeout=60,
            )
            response.raise_for_status()
            if orjson.loads(response.content)["errors"]:
                raise RuntimeError("the plain loop's bulk had errors")
    return time.perf_counter() - started


def through_pumpcore(
    url: str, index: str, docs: list[dict[str, Any]], batch: int, executor: str
) -> float:
    """``IteratorSource → ElasticSearchSink``, flushed and cut every ``batch`` events."""
    sink = ElasticSearchSink(
        ElasticSearchConnection(config={"url": url}),
        config={"index": index, "bulk_max_count": batch},
    )
    pipeline = Pipeline("Bench")
    pipeline.build(IteratorSource(docs), sink)
    started = time.perf_counter()
    report = pumpcore_executors.run(
        pipeline,
        executor=executor,  # type: ignore[arg-type]
        commit_every=batch,
        handle_signals=False,
    )
    elapsed = time.perf_counter() - started
    if report.errors or sink.statistics().documents != len(docs):
        raise RuntimeError(f"pumpcore wrote {sink.statistics()}: {report.errors}")
    return elapsed


def count(url: str, index: str) -> int:
    requests.post(f"{url}/{index}/_refresh", timeout=60).raise_for_status()
    response = requests.get(f"{url}/{index}/_count", timeout=60)
    response.raise_for_status()
    return int(response.json()["count"])


@contextlib.contextmanager
def noida() -> Iterator[str]:
    """noida-db's Elasticsearch API on a free port, for the benchmark's duration."""
    spec = importlib.util.find_spec("noida_db")
    if spec is None or spec.origin is None:
        sys.exit("noida-db is not installed: pip install noida-db, or pass --url")
    binary = Path(spec.origin).parent / "noida-db"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        argv = [str(binary), "start", "--data-dir", folder, "--only", "elasticsearch"]
        process = subprocess.Popen(
            [*argv, "--elasticsearch-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit("noida-db did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100_000, help="documents per side")
    parser.add_argument("--batch", type=int, default=1024, help="documents per bulk request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    parser.add_argument("--url", default="", help="a running cluster (default: start noida-db)")
    args = parser.parse_args()
    docs = documents(args.n)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(noida())
        print(f"{args.n} documents, bulks of {args.batch}, best of {args.repeat}, {url}")
        executors = args.executors.split(",")
        best = dict.fromkeys(["plain", *executors], float("inf"))
        # Interleaved, each into a fresh index deleted afterwards: the server's state and the
        # machine's load drift alike for every side.
        for _ in range(args.repeat):
            for side in best:
                index = f"bench-{side}-{uuid.uuid4().hex[:8]}"
                if side == "plain":
                    elapsed = plain(url, index, docs, args.batch)
                else:
                    elapsed = through_pumpcore(url, index, docs, args.batch, side)
                assert count(url, index) == args.n
                requests.delete(f"{url}/{index}", timeout=60).raise_for_status()
                best[side] = min(best[side], elapsed)
        print(f"plain loop       {args.n / best['plain']:10,.0f} docs/s")
        for executor in executors:
            print(
                f"pumpcore {executor:7} {args.n / best[executor]:10,.0f} docs/s   "
                f"ratio plain/pumpcore time {best['plain'] / best[executor]:.2f}"
            )


if __name__ == "__main__":
    main()
