"""The SQL key fetchers (PostgreSQL, MariaDB) against the real servers: one row per key with a
parametrised query, behind a KeyLookup, under every executor; store errors raised, counted and
handled by the policy, never a silent None."""

from __future__ import annotations

from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.lookup import KeyLookup, enrich_by_key

from ...executors.conftest import run_kwargs
from ._backends import Database

pytestmark = pytest.mark.timeout(30)


def fetcher(db: Database, **kwargs: Any) -> Any:
    if db.name == "postgres":
        from pumpcore_postgres import PostgreSQLKeyFetcher

        return PostgreSQLKeyFetcher(db.connection(), **kwargs)
    from pumpcore_mysql import MySQLKeyFetcher

    return MySQLKeyFetcher(db.connection(), **kwargs)


def store_error(db: Database) -> type[Exception]:
    if db.name == "postgres":
        import psycopg

        return psycopg.errors.UndefinedTable
    import pymysql

    return pymysql.err.ProgrammingError


def users_table(db: Database) -> str:
    text = db.backend.text_type
    table = db.table(f"id {text} primary key, name {text}, age integer")
    db.insert(table, "id, name, age", [(f"u{i}", f"name{i}", 20 + i) for i in range(10)])
    return table


def test_one_row_per_key(db: Database) -> None:
    table = users_table(db)
    rows = fetcher(db, table=table, key="id")
    names = fetcher(db, table=table, key="id", value="name")
    ages = fetcher(db, query=f"SELECT age FROM {table} WHERE upper(id) = upper(%s)", value="age")
    try:
        assert rows.fetch("u1") == {"id": "u1", "name": "name1", "age": 21}
        assert rows.fetch("nobody") is None
        assert names.fetch("u2") == "name2"
        assert ages.fetch("U3") == 23
        assert names.fetch("x'; DROP TABLE users; --") is None  # a parameter, never SQL text
    finally:
        rows.close()
        names.close()
        ages.close()


def test_the_cache_answers_what_the_table_held_at_fetch_time(db: Database) -> None:
    table = users_table(db)
    names = fetcher(db, table=table, key="id", value="name")
    lookup = KeyLookup("U", names, cache_size=2, ttl=10, miss_ttl=1)
    try:
        assert lookup.get("u1", now=0) == "name1"
        db.execute(f"UPDATE {table} SET name = %s WHERE id = %s", "renamed", "u1")
        assert lookup.get("u1", now=5) == "name1"
        assert lookup.get("u1", now=10) == "renamed"  # seen: no stale snapshot
        assert lookup.get("u99", now=10) is None
        db.execute(f"INSERT INTO {table} (id, name) VALUES (%s, %s)", "u99", "late")
        assert lookup.get("u99", now=10.5) is None  # the cached absence
        assert lookup.get("u99", now=11) == "late"
    finally:
        names.close()


def test_enrich_by_key_on_every_executor(db: Database, executor: ExecutorName) -> None:
    table = users_table(db)
    names = fetcher(db, table=table, key="id", value="name")
    lookup = KeyLookup("Users", names, cache_size=4)
    events = [{"user": f"u{n % 12}"} for n in range(60)]  # u10, u11 unknown
    sink = ListSink()
    p = Pipeline("P", config={"async_concurency_limit": 8})
    p.build(
        IteratorSource([dict(e) for e in events]),
        *enrich_by_key(lookup, key="user", into="name"),
        sink,
    )
    try:
        pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    finally:
        names.close()
    assert sink.Events == [
        {**e, "name": f"name{e['user'][1:]}"} if int(e["user"][1:]) < 10 else e for e in events
    ]
    s = lookup.statistics()
    assert s.hits + s.misses == 60
    assert s.size <= 4
    assert s.errors == 0


@pytest.mark.parametrize("policy", ["fail", "drop"])
def test_a_dropped_table_is_an_error_not_a_none(
    db: Database, executor: ExecutorName, policy: str
) -> None:
    table = users_table(db)
    names = fetcher(db, table=table, key="id", value="name")
    lookup = KeyLookup("Users", names)
    assert lookup.get("u1") == "name1"
    db.execute(f"DROP TABLE {table}")
    with pytest.raises(store_error(db)):
        names.fetch("u2")
    sink = ListSink()
    p = Pipeline("P", error_policy="soft")
    steps = enrich_by_key(lookup, key="user", into="name", on_error=policy)  # type: ignore[arg-type]
    p.build(IteratorSource([{"user": u} for u in ("u1", "u2", "u3")]), *steps, sink)
    try:
        pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))
    finally:
        names.close()
    assert sink.Events == [{"user": "u1", "name": "name1"}]  # from the cache
    assert lookup.statistics().errors == 2  # u2 and u3; the direct fetch above is not counted
    stats = p.statistics()
    assert (stats.warning, stats.event_drop) == ((2, 0) if policy == "fail" else (0, 2))
