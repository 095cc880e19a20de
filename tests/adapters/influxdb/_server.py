"""An InfluxDB 1.x server for the tests (Debian's ``influxd``), started by the test run with a
config of its own (data, meta and WAL in a temporary folder, free ports, reporting off) as a
``ChildServer``, ended by PID."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pumpcore_influxdb import InfluxDBConnection

from ...servers import ChildServer, executable, free_port

CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
"""


def influxd(root: Path) -> ChildServer:
    """``influxd -config`` with everything under ``root``."""
    binary = executable("influxd", "/usr/bin/influxd")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "influxdb.conf"
    config.write_text(CONFIG.format(root=root, rpc=free_port(), http=port))
    return ChildServer([binary, "-config", str(config)], port, log=root / "influxd.log")


class Influx:
    """A running server, and a fresh database per test."""

    def __init__(self, server: ChildServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.port}"

    def connect(self, db: str, **config: Any) -> InfluxDBConnection:
        return InfluxDBConnection(
            config={
                "url": self.url,
                "db": db,
                "fail_chilldown": 0.02,
                "max_chilldown": 0.2,
                **config,
            }
        )

    def new_db(self) -> str:
        db = f"t_{uuid.uuid4().hex[:12]}"
        self.connect(db).query(f'CREATE DATABASE "{db}"')
        return db

    def rows(self, db: str, q: str) -> list[dict[str, Any]]:
        """The rows ``q`` selects: each a dict of columns, with ``measurement`` and the series'
        tags."""
        out: list[dict[str, Any]] = []
        for result in self.connect(db).query(q):
            for series in result.get("series", []):
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    row.update(series.get("tags") or {})
                    out.append({"measurement": series["name"], **row})
        return out
