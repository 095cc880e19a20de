"""The SQL lookup providers against the real servers: loaded at start, refreshed, changes
visible to processors, unchanged tables not replaced, failures keeping the table."""

from __future__ import annotations

import threading
import time
from typing import Any

import pumpcore_executors
import pytest
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline, Pump, Sink, TriggerSource
from pumpcore.lookup import MappingLookup
from pumpcore.trigger import PeriodicTrigger

from ...executors.conftest import run_kwargs
from ._backends import Database

pytestmark = pytest.mark.timeout(60)


def test_load_unchanged_and_changed(db: Database) -> None:
    table = db.table(f"code {db.backend.text_type}, name {db.backend.text_type}")
    db.insert(table, "code, name", [("cz", "Czechia"), ("sk", "Slovakia")])
    lookup = MappingLookup(
        "Countries", provider=db.backend.lookup(db.connection(), table=table, key="code")
    )
    assert lookup.load() is True
    assert lookup["cz"] == {"code": "cz", "name": "Czechia"}
    assert lookup.load() is False  # the same rows: nothing replaced
    db.execute(f"UPDATE {table} SET name = %s WHERE code = %s", "Česko", "cz")
    assert lookup.load() is True
    assert lookup["cz"]["name"] == "Česko"
    assert lookup.version == 2
    names = db.backend.lookup(
        db.connection(), query=f"SELECT code, name FROM {table}", key="code", value="name"
    )
    assert dict(names.load()) == {"cz": "Česko", "sk": "Slovakia"}


def test_a_failed_load_keeps_the_table(db: Database) -> None:
    table = db.table(f"code {db.backend.text_type}")
    db.insert(table, "code", [("a",)])
    lookup = MappingLookup(
        "L", provider=db.backend.lookup(db.connection(), table=table, key="code")
    )
    lookup.load()
    db.execute(f"DROP TABLE {table}")
    with pytest.raises(Exception, match=table):
        lookup.load()
    assert dict(lookup) == {"a": {"code": "a"}}
    assert lookup.statistics().failed == 1


class Ticks(TriggerSource):
    def cycle(self, *args: Any) -> None:
        self.process({"code": "cz"})


class Seen(Sink):
    """Keeps the names seen; stops the run a few events after the first new one."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.handle = pumpcore_executors.RunHandle()

    def process(self, context: Any, event: Any) -> None:
        self.names.append(event["name"])
        if self.names[-3:] == ["new"] * 3:
            self.handle.stop()


def test_a_running_pump_sees_the_refreshed_table(db: Database, executor: ExecutorName) -> None:
    table = db.table(f"code {db.backend.text_type}, name {db.backend.text_type}")
    db.insert(table, "code, name", [("cz", "old")])
    lookup = MappingLookup(
        "Countries",
        config={"refresh_period": 0.05},
        provider=db.backend.lookup(db.connection(), table=table, key="code", value="name"),
    )
    sink = Seen()
    p = Pipeline("Enrich")
    p.build(
        Ticks().on(PeriodicTrigger(0.05)),
        lambda context, event: {**event, "name": lookup.get(event["code"], "?")},
        sink,
    )
    pump = Pump([p])
    pump.add_lookup(lookup)
    changer = threading.Timer(0.25, db.execute, (f"UPDATE {table} SET name = 'new'",))
    changer.start()
    started = time.monotonic()
    report = pumpcore_executors.run(
        pump, executor=executor, stop_after=10, handle=sink.handle, **run_kwargs(executor)
    )
    changer.join()
    assert report.errors == {}
    assert time.monotonic() - started < 8
    assert sink.names[0] == "old"  # loaded before the first event
    assert sink.names[-1] == "new"
    first_new = sink.names.index("new")
    assert set(sink.names[:first_new]) == {"old"}
    assert set(sink.names[first_new:]) == {"new"}
    assert lookup.statistics().loaded == 2  # the refreshes in between changed nothing
