"""Elasticsearch-API servers for the tests, started by the test run (DEVELOPERS.md): noida-db's
Elasticsearch 8 API (keeps its data across a restart) and osmem-server's OpenSearch API (in
memory), each a ``ChildServer`` on a free port, ended by PID; and a small admin client."""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path
from typing import Any

import requests

from ...servers import ChildServer, free_port, missing


def _package_dir(module: str, dist: str) -> Path:
    """Where an installed package's files are (without importing it: it ships no types)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        missing(f"{dist} is not installed (a dev extra)")
        raise AssertionError("unreachable")
    return Path(spec.origin).parent


def noida_server(data_dir: Path, log: Path, port: int | None = None) -> ChildServer:
    """noida-db's binary itself (its ``noida-db`` script is a wrapper whose PID is not the
    server's), Elasticsearch only."""
    binary = _package_dir("noida_db", "noida-db") / "noida-db"
    if not os.access(binary, os.X_OK):
        missing(f"noida-db's binary is missing or not executable at {binary}")
    port = port or free_port()
    argv = [str(binary), "start", "--data-dir", str(data_dir), "--only", "elasticsearch"]
    return ChildServer([*argv, "--elasticsearch-port", str(port)], port, log=log)


def osmem_server(log: Path, port: int | None = None) -> ChildServer:
    """osmem-server's bundled binary on a fixed port (so that a restart comes back on it),
    ending with this process (``--parent-pid``) and not with its stdin."""
    binary = _package_dir("osmem_server", "osmem-server") / "bin" / "osmem-server"
    if not os.access(binary, os.X_OK):
        missing(f"osmem-server's binary is missing or not executable at {binary}")
    port = port or free_port()
    argv = [str(binary), "--addr", f"127.0.0.1:{port}", "--no-stdin-watch"]
    return ChildServer([*argv, "--parent-pid", str(os.getpid()), "--no-ja"], port, log=log)


class Cluster:
    """A running server and plain requests to check what it holds."""

    def __init__(self, name: str, server: ChildServer) -> None:
        self.name = name
        self.server = server
        self.url = f"http://127.0.0.1:{server.port}"

    def __repr__(self) -> str:
        return f"<Cluster {self.name} {self.url}>"

    def new_index(self, prefix: str = "t") -> str:
        """A unique index name for one test."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, self.url + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def create(self, index: str, properties: dict[str, Any]) -> None:
        self.call("PUT", f"/{index}", {"mappings": {"properties": properties}})

    def refresh(self, index: str) -> None:
        self.call("POST", f"/{index}/_refresh")

    def count(self, index: str, query: dict[str, Any] | None = None) -> int:
        self.refresh(index)
        body = {"query": query} if query else None
        return int(self.call("POST", f"/{index}/_count", body)["count"])

    def docs(self, index: str, sort: str = "n") -> list[dict[str, Any]]:
        """Every document's source, sorted by ``sort``, with its ``_id``, paged (by a field:
        noida-db cannot sort on ``_id``)."""
        self.refresh(index)
        out: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": 1000, "sort": [{sort: "asc"}]}
            if after is not None:
                body["search_after"] = after
            hits = self.call("POST", f"/{index}/_search", body)["hits"]["hits"]
            out += [{**hit["_source"], "_id": hit["_id"]} for hit in hits]
            if len(hits) < 1000:
                return out
            after = hits[-1]["sort"]
