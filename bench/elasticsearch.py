"""Benchmark: the Elasticsearch bulk sink against a hand-written bulk loop, in one run.

Both write the same ``-n`` documents into their own index of the same server, in bulk requests
of ``--batch`` documents: the plain side is the loop a user would write (``requests.Session``,
NDJSON built with orjson, the answer's ``errors`` checked), the pumpcore side is
``IteratorSource → ElasticSearchSink`` under each executor, flushed every ``--batch`` events
(``commit_every``) and cut into bulks of ``--batch`` (``bulk_max_count``), reading every
item's outcome. It prints each side's rate and the ratio plain time / pumpcore time (1.0: as
fast as the loop; the target is >= 0.8), and the same ratio of this process's CPU time (the
client's work alone: the server is another process, so a loaded machine disturbs it less).
The sink asks for a bulk answer holding only what it reads (``filter_path``), which makes the
server's answer about 7 times smaller; the ``filtered`` side is the loop asking the same, for
the like-for-like ratio.
Each figure is the best of ``--repeat`` runs. The
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
import logging
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

# What ElasticSearchSink asks the bulk answer to hold (what it reads of it).
FILTER_PATH = "errors,items.*.status,items.*.error,items.*._id"


def documents(n: int) -> list[dict[str, Any]]:
    """``n`` log-like documents."""
    return [
        {"n": i, "host": f"h{i % 50}", "status": 200 + i % 7, "bytes": i * 13 % 9000,
         "path": f"/api/v1/items/{i % 977}", "ts": 1_700_000_000 + i}
        for i in range(n)
    ]  # fmt: skip


def plain(
    url: str, index: str, docs: list[dict[str, Any]], batch: int, filtered: bool
) -> tuple[float, float]:
    """The hand-written loop: one bulk request per ``batch`` documents; (wall, CPU) seconds.
    ``filtered`` asks for the answer the sink asks for (``filter_path``)."""
    params = {"filter_path": FILTER_PATH} if filtered else None
    started, cpu = time.perf_counter(), time.process_time()
    with requests.Session() as session:
        for start in range(0, len(docs), batch):
            body = b"".join(
                b'{"create":{}}\n' + orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
                for doc in docs[start : start + batch]
            )
            response = session.post(
                f"{url}/{index}/_bulk",
                data=body,
                params=params,
                headers={"Content-Type": "application/x-ndjson"},
                timeout=60,
            )
            response.raise_for_status()
            if orjson.loads(response.content)["errors"]:
                raise RuntimeError("the plain loop's bulk had errors")
    return time.perf_counter() - started, time.process_time() - cpu


def through_pumpcore(
    url: str, index: str, docs: list[dict[str, Any]], batch: int, executor: str
) -> tuple[float, float]:
    """``IteratorSource → ElasticSearchSink``, flushed and cut every ``batch`` events;
    (wall, CPU) seconds."""
    sink = ElasticSearchSink(
        ElasticSearchConnection(config={"url": url}),
        config={"index": index, "bulk_max_count": batch},
    )
    pipeline = Pipeline("Bench")
    pipeline.build(IteratorSource(docs), sink)
    started, cpu = time.perf_counter(), time.process_time()
    report = pumpcore_executors.run(
        pipeline,
        executor=executor,  # type: ignore[arg-type]
        commit_every=batch,
        handle_signals=False,
    )
    elapsed = time.perf_counter() - started, time.process_time() - cpu
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
    logging.basicConfig(level=logging.WARNING)  # a refused item's reason, should one come
    docs = documents(args.n)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(noida())
        print(f"{args.n} documents, bulks of {args.batch}, best of {args.repeat}, {url}")
        executors = args.executors.split(",")
        sides = ["plain", "filtered", *executors]
        best = {side: [float("inf"), float("inf")] for side in sides}
        # Interleaved, each into a fresh index deleted afterwards: the server's state and the
        # machine's load drift alike for every side.
        for _ in range(args.repeat):
            for side, figures in best.items():
                index = f"bench-{side}-{uuid.uuid4().hex[:8]}"
                if side in ("plain", "filtered"):
                    wall, cpu = plain(url, index, docs, args.batch, side == "filtered")
                else:
                    wall, cpu = through_pumpcore(url, index, docs, args.batch, side)
                assert count(url, index) == args.n
                requests.delete(f"{url}/{index}", timeout=60).raise_for_status()
                figures[0], figures[1] = min(figures[0], wall), min(figures[1], cpu)
        plain_wall, plain_cpu = best["plain"]
        filtered_wall, filtered_cpu = best["filtered"]
        for side in sides:
            wall, cpu = best[side]
            rate, us = args.n / wall, 1e6 * cpu / args.n
            line = f"{side:8} {rate:9,.0f} docs/s  client CPU {us:4.1f} us/doc"
            if side not in ("plain", "filtered"):
                line += (
                    f"  plain/pumpcore: time {plain_wall / wall:.2f}, CPU {plain_cpu / cpu:.2f}"
                    f"  filtered/pumpcore: time {filtered_wall / wall:.2f}, "
                    f"CPU {filtered_cpu / cpu:.2f}"
                )
            print(line)


if __name__ == "__main__":
    main()
