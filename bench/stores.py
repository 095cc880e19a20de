"""Benchmark: the PostgreSQL, MySQL and Redis adapters against plain client code, in one run.

For each store, two cases, each timed once as the plain code a user would write with the same
client library and once through pumpcore under each executor; it prints rows per second and
the ratio plain time / pumpcore time (1.0: as fast as plain):

- ``source``: ``-n`` rows read (a query through a server-side cursor, ``fetch_size`` at a
  time; for Redis, stream entries through a consumer group, acknowledged) and counted;
- ``sink``: ``-n`` rows written (PostgreSQL: COPY; MySQL: a multi-row INSERT; Redis: XADD
  pipelined), committed every 1000 rows (the executors' default ``commit_every``: a pump
  commits before it acknowledges, so the plain code commits as often).

Needs the servers of DEVELOPERS.md on 127.0.0.1. Each figure is the best of ``--repeat`` runs.

Run: ``python bench/stores.py [-n 100000] [--stores postgres,mysql,redis]
[--executors sync,threads,asyncio,trio] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import pumpcore_executors
import pymysql
import redis
from pumpcore_mysql import MySQLConnection, MySQLSink, MySQLSource
from pumpcore_postgres import PostgreSQLConnection, PostgreSQLSink, PostgreSQLSource
from pumpcore_redis import RedisConnection, RedisSink, RedisStreamSource

from pumpcore import Pipeline, Sink, Source
from pumpcore.common import IteratorSource
from pumpcore.trigger import RunOnceTrigger

FETCH = 1000
COMMIT = 1000  # the executors' default commit_every: rows per commit, plain and through pumpcore


class Count(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def process(self, context: Any, event: Any) -> None:
        self.n += 1


def timed(
    fn: Callable[[], object], repeat: int, setup: Callable[[], object] = lambda: None
) -> float:
    best = float("inf")
    for _ in range(repeat):
        setup()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def through(source: Callable[[], Source], sink: Callable[[], Sink], executor: str) -> None:
    p = Pipeline("Bench")
    p.build(source(), sink())
    report = pumpcore_executors.run(p, executor=executor, handle_signals=False)  # type: ignore[arg-type]
    assert report.errors == {}, report.errors


class Store:
    """One store's plain code and pumpcore components over a scratch table or key."""

    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n
        self.table = f"bench_{uuid.uuid4().hex[:8]}"
        self.rows: list[dict[str, Any]] = [{"id": i, "name": f"name {i}"} for i in range(n)]

    # -- PostgreSQL
    def pg(self) -> PostgreSQLConnection:
        return PostgreSQLConnection(config={"host": "127.0.0.1", "db": "test", "user": "postgres"})

    # -- MySQL
    def my(self) -> MySQLConnection:
        return MySQLConnection(config={"host": "127.0.0.1", "db": "test", "user": "root"})

    def execute(self, sql: str) -> None:
        conn: Any = self.pg().connect() if self.name == "postgres" else self.my().connect()
        with conn.cursor() as cursor:
            cursor.execute(sql)
        conn.commit()
        conn.close()

    def fill(self) -> None:
        if self.name == "postgres":
            self.execute(f"DROP TABLE IF EXISTS {self.table}")
            self.execute(f"CREATE TABLE {self.table} AS SELECT g AS id, 'name ' || g AS name "
                         f"FROM generate_series(1, {self.n}) g")  # fmt: skip
        elif self.name == "mysql":
            self.execute(f"DROP TABLE IF EXISTS {self.table}")
            self.execute(f"CREATE TABLE {self.table} (id int, name varchar(64)) ENGINE=InnoDB")
            self.execute(f"INSERT INTO {self.table} SELECT seq, concat('name ', seq) "
                         f"FROM seq_1_to_{self.n}")  # fmt: skip

    def empty(self) -> None:
        if self.name == "redis":
            redis.Redis().delete(self.table)
            return
        self.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.execute(f"CREATE TABLE {self.table} (id int, name varchar(64))")

    def fill_stream(self) -> None:
        client: Any = redis.Redis()
        client.delete(self.table)
        pipe = client.pipeline(transaction=False)
        for row in self.rows:
            pipe.xadd(self.table, row)
        pipe.execute()
        client.xgroup_create(self.table, "g", id="0")

    def plain_source(self) -> None:
        count = 0
        conn: Any
        if self.name == "postgres":
            with self.pg().connect() as conn, conn.cursor("plain") as cursor:
                cursor.execute(f"SELECT id, name FROM {self.table}")
                while rows := cursor.fetchmany(FETCH):
                    count += len([dict(zip(("id", "name"), r, strict=True)) for r in rows])
        elif self.name == "mysql":
            conn = self.my().connect(pymysql.cursors.SSDictCursor)
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT id, name FROM {self.table}")
                while rows := cursor.fetchmany(FETCH):
                    count += len(rows)
            conn.close()
        else:
            client: Any = redis.Redis()
            while answer := client.xreadgroup("g", "c", {self.table: ">"}, count=FETCH):
                entries = answer[0][1]
                count += len([{k.decode(): v.decode() for k, v in f.items()} for _, f in entries])
                client.xack(self.table, "g", *[i for i, _ in entries])
        assert count == self.n, count

    def source(self) -> Source:
        query = {"query": f"SELECT id, name FROM {self.table}", "fetch_size": FETCH}
        if self.name == "postgres":
            return PostgreSQLSource(connection=self.pg(), config=query).on(RunOnceTrigger())
        if self.name == "mysql":
            return MySQLSource(connection=self.my(), config=query).on(RunOnceTrigger())
        return RedisStreamSource(
            connection=RedisConnection(),
            config={"stream": self.table, "group": "g", "watch": False, "read_size": FETCH},
        )

    def plain_sink(self) -> None:
        """Written and committed ``COMMIT`` rows at a time: as durable as often as the pump."""
        conn: Any
        chunks = [self.rows[i : i + COMMIT] for i in range(0, self.n, COMMIT)]
        if self.name == "postgres":
            copy_sql = f"COPY {self.table} (id, name) FROM STDIN"
            with self.pg().connect() as conn:
                for chunk in chunks:
                    with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                        for row in chunk:
                            copy.write_row((row["id"], row["name"]))
                    conn.commit()
        elif self.name == "mysql":
            conn = self.my().connect()
            insert = f"INSERT INTO {self.table} (id, name) VALUES (%s, %s)"
            for chunk in chunks:
                with conn.cursor() as cursor:
                    cursor.executemany(insert, [(row["id"], row["name"]) for row in chunk])
                conn.commit()
            conn.close()
        else:
            client: Any = redis.Redis()
            for chunk in chunks:
                pipe = client.pipeline(transaction=False)
                for row in chunk:
                    pipe.xadd(self.table, row)
                pipe.execute()

    def sink(self) -> Sink:
        config = {"table": self.table, "columns": "id, name"}
        if self.name == "postgres":
            return PostgreSQLSink(connection=self.pg(), config=config)
        if self.name == "mysql":
            return MySQLSink(connection=self.my(), config=config)
        return RedisSink(connection=RedisConnection(), config={"key": self.table})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--stores", default="postgres,mysql,redis")
    parser.add_argument("--executors", default="sync,threads,asyncio,trio")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    executors = args.executors.split(",")
    for name in args.stores.split(","):
        store = Store(name, args.n)
        try:
            run_store(store, executors, args.repeat)
        finally:
            if name == "redis":
                redis.Redis().delete(store.table)
            else:
                store.execute(f"DROP TABLE IF EXISTS {store.table}")


def through_case(store: Store, case: str, executor: str) -> None:
    if case == "source":
        through(store.source, Count, executor)
    else:
        through(functools.partial(IteratorSource, store.rows), store.sink, executor)


def run_store(store: Store, executors: list[str], repeat: int) -> None:
    """Both cases of one store: plain, then through each executor."""
    n, stream = store.n, store.name == "redis"
    if not stream:
        store.fill()
    read_setup: Callable[[], object] = store.fill_stream if stream else (lambda: None)
    for case in ("source", "sink"):
        if case == "source":
            plain, setup = store.plain_source, read_setup
        else:
            plain, setup = store.plain_sink, store.empty
        base = timed(plain, repeat, setup)
        line = f"{store.name:9} {case:6} plain {n / base:>9,.0f} rows/s"
        for executor in executors:
            t = timed(functools.partial(through_case, store, case, executor), repeat, setup)
            line += f" | {executor} {n / t:>9,.0f} ({base / t:.2f})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
