"""``bspump.amqp``, ``mqtt``, ``nats``, ``redis``, ``mysql``, ``postgresql`` and ``influxdb``
against the real servers (DEVELOPERS.md): BSPump's way of wiring them — connections made with
``(app, id)`` from ``[connection:ID]``, registered with ``svc.add_connection``, and components
given the connection's id — pumping messages through on every executor (their clients are
blocking code on threads of their own; nothing here is asyncio-only)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pumpcore_bspump as bspump
import pumpcore_executors
import pytest
from pumpcore_bspump import BSPumpApplication, amqp, influxdb, mqtt, mysql, nats, postgresql, redis
from pumpcore_bspump.common import IteratorSource, ListSink
from pumpcore_executors import ExecutorName

from pumpcore import ConfigError, Settings

from ..adapters.amqp.conftest import Broker as Rabbit
from ..adapters.amqp.conftest import url as amqp_url
from ..adapters.influxdb._server import Influx
from ..adapters.mqtt.conftest import Mosquitto
from ..adapters.nats.conftest import JetStream
from ..adapters.nats.conftest import url as nats_url
from ..adapters.redis.conftest import Keys
from ..adapters.sql._backends import Database, database
from ..executors.conftest import run_kwargs
from ..servers import service

pytestmark = pytest.mark.timeout(60)

BODIES = [b"one", b"two", b"three"]


def app_with(config: str) -> BSPumpApplication:
    app = BSPumpApplication(args=[])
    app.Settings = Settings.from_ini(config)
    return app


def run(app: BSPumpApplication, executor: ExecutorName) -> None:
    report = pumpcore_executors.run(
        app.get_service("bspump.PumpService").Pump, executor=executor, **run_kwargs(executor)
    )
    assert report.errors == {}


def load(lookup: Any) -> None:
    """What an executor does at start: the provider's table into the lookup."""
    table = lookup.provider.load()
    assert isinstance(table, Mapping)
    lookup.set(table)


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    made = Rabbit()
    try:
        yield made
    finally:
        made.delete_all()


def test_amqp_queue_to_queue(rabbit: Rabbit, executor: ExecutorName) -> None:
    into, out = rabbit.queue("in"), rabbit.queue("out")
    rabbit.publish(into, BODIES)
    app = app_with(
        f"[connection:AMQPConnection]\nurl={amqp_url()}\n"
        f"[pipeline:P:AMQPSource]\nqueue={into}\nend_after_idle=0.3\n"
        f"[pipeline:P:AMQPSink]\nrouting_key={out}\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(amqp.AMQPConnection(app, "AMQPConnection"))
    p = bspump.Pipeline(app, "P")
    p.build(amqp.AMQPSource(app, p, "AMQPConnection"), amqp.AMQPSink(app, p, "AMQPConnection"))
    svc.add_pipeline(p)
    run(app, executor)
    assert rabbit.drain(out) == BODIES
    assert rabbit.count(into) == 0  # every message acknowledged


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    made = Mosquitto()
    try:
        yield made
    finally:
        made.wipe()


def test_mqtt_topic_to_topic(mosquitto: Mosquitto, executor: ExecutorName) -> None:
    into, out = mosquitto.topic("in"), mosquitto.topic("out")
    client_id = mosquitto.session("bspump", [into])
    mosquitto.publish(into, BODIES)
    collector = mosquitto.collector(out)
    host, port = service("mosquitto")
    app = app_with(
        f"[connection:MQTTConnection]\nhost={host}\nport={port}\n"
        f"[pipeline:P:MQTTSource]\ntopics={into}\nclient_id={client_id}\nend_after_idle=0.3\n"
        f"[pipeline:P:MQTTSink]\ntopic={out}\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(mqtt.MQTTConnection(app, "MQTTConnection"))
    p = bspump.Pipeline(app, "P")
    p.build(mqtt.MQTTSource(app, p, "MQTTConnection"), mqtt.MQTTSink(app, p, "MQTTConnection"))
    svc.add_pipeline(p)
    run(app, executor)
    assert collector.received() == BODIES


@pytest.fixture
def jetstream() -> Iterator[JetStream]:
    made = JetStream()
    try:
        yield made
    finally:
        made.delete_all()


def test_nats_stream_to_stream(jetstream: JetStream, executor: ExecutorName) -> None:
    (into, subject), (out, out_subject) = jetstream.stream("in"), jetstream.stream("out")
    jetstream.publish(subject, BODIES)
    app = app_with(
        f"[connection:NATSConnection]\nservers={nats_url()}\n"
        f"[pipeline:P:NATSSource]\nstream={into}\nsubject={subject}\ndurable=bspump\n"
        "end_after_idle=0.3\n"
        f"[pipeline:P:NATSSink]\nsubject={out_subject}\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(nats.NATSConnection(app, "NATSConnection"))
    p = bspump.Pipeline(app, "P")
    p.build(nats.NATSSource(app, p, "NATSConnection"), nats.NATSSink(app, p, "NATSConnection"))
    svc.add_pipeline(p)
    run(app, executor)
    assert jetstream.messages(out) == BODIES
    assert jetstream.acked(into, "bspump") == len(BODIES)


@pytest.fixture
def keys() -> Iterator[Keys]:
    made = Keys(service("redis"))
    try:
        yield made
    finally:
        made.cleanup()


def test_redis_stream_sink_source_and_lookup(keys: Keys, executor: ExecutorName) -> None:
    host, port = keys.address
    keys.client.hset(keys("owners"), mapping={"a": "ann", "b": "bob"})
    app = app_with(
        f"[connection:RedisConnection]\nhost={host}\nport={port}\n"
        f"[pipeline:Write:RedisSink]\nkey={keys('events')}\n"
        f"[pipeline:Read:RedisStreamSource]\nstream={keys('events')}\nwatch=false\n"
        f"[lookup:Owners]\nkey={keys('owners')}\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(redis.RedisConnection(app, "RedisConnection"))
    write = bspump.Pipeline(app, "Write")
    events = [{"n": n} for n in range(3)]
    write.build(IteratorSource(app, write, events), redis.RedisSink(app, write, "RedisConnection"))
    svc.add_pipeline(write)
    run(app, executor)
    svc.del_pipeline(write)

    read = bspump.Pipeline(app, "Read")
    got = ListSink(app, read)
    read.build(redis.RedisStreamSource(app, read, "RedisConnection"), got)
    svc.add_pipeline(read)
    run(app, executor)
    assert [int(e["n"]) for e in got.Events] == [0, 1, 2]

    lookup = redis.RedisLookup(app, "RedisConnection", "Owners")
    load(lookup)
    assert dict(lookup) == {"a": "ann", "b": "bob"}


@pytest.fixture(params=["postgresql", "mysql"])
def sql(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Database]]:
    module = {"postgresql": postgresql, "mysql": mysql}[request.param]
    with database("postgres" if request.param == "postgresql" else "mysql") as db:
        yield module, db


def test_sql_sink_source_and_lookup(sql: tuple[Any, Database], executor: ExecutorName) -> None:
    module, db = sql
    prefix = "PostgreSQL" if module is postgresql else "MySQL"
    table = db.table(f"id {db.backend.int_type}, name {db.backend.text_type}")
    host, port = db.address
    user = "postgres" if module is postgresql else "root"
    app = app_with(
        f"[connection:{prefix}Connection]\nhost={host}\nport={port}\nuser={user}\ndb=test\n"
        f"[pipeline:Write:{prefix}Sink]\ntable={table}\ncolumns=id,name\n"
        f"[pipeline:Read:{prefix}Source]\nquery=SELECT id, name FROM {table} ORDER BY id\n"
        f"[lookup:Names]\ntable={table}\nkey=id\nvalue=name\n"
    )
    svc = app.get_service("bspump.PumpService")
    conn = f"{prefix}Connection"
    svc.add_connection(getattr(module, conn)(app, conn))
    write = bspump.Pipeline(app, "Write")
    rows = [{"id": n, "name": f"n{n}"} for n in range(3)]
    write.build(
        IteratorSource(app, write, rows), getattr(module, f"{prefix}Sink")(app, write, conn)
    )
    svc.add_pipeline(write)
    run(app, executor)
    svc.del_pipeline(write)

    read = bspump.Pipeline(app, "Read")
    got = ListSink(app, read)
    source = getattr(module, f"{prefix}Source")(app, read, conn)
    read.build(source.on(bspump.trigger.RunOnceTrigger(app)), got)
    svc.add_pipeline(read)
    run(app, executor)
    assert got.Events == rows

    lookup = getattr(module, f"{prefix}Lookup")(app, conn, "Names")
    load(lookup)
    assert dict(lookup) == {0: "n0", 1: "n1", 2: "n2"}
    with pytest.raises(ConfigError, match="set the config key 'table' or 'query'"):
        getattr(module, f"{prefix}Lookup")(app, conn, "Other", {"key": "id"})


def test_influxdb_sink(influx: Influx, executor: ExecutorName) -> None:
    db = influx.new_db()
    app = app_with(
        f"[connection:InfluxDBConnection]\nurl={influx.url}\ndb={db}\n"
        "[pipeline:P:InfluxDBSink]\nmeasurement=cpu\n"
    )
    svc = app.get_service("bspump.PumpService")
    svc.add_connection(influxdb.InfluxDBConnection(app, "InfluxDBConnection"))
    p = bspump.Pipeline(app, "P")
    points = [{"tags": {"host": "a"}, "fields": {"load": n / 10}, "time": n} for n in range(3)]
    p.build(IteratorSource(app, p, points), influxdb.InfluxDBSink(app, p, "InfluxDBConnection"))
    svc.add_pipeline(p)
    run(app, executor)
    assert [r["load"] for r in influx.rows(db, "SELECT * FROM cpu")] == [0.0, 0.1, 0.2]
