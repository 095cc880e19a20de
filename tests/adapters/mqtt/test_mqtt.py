"""MQTTSource and MQTTSink against Mosquitto, on every executor: a round trip with bad input
counted, the acknowledgement contract (conformance, the persistent session redelivering what
was not acknowledged), the broker going away and coming back, and no password anywhere."""

from __future__ import annotations

import logging
import threading

import orjson
import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName
from pumpcore_mqtt import MQTTConnection, MQTTSink, MQTTSource

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.testing import conformance

from ...executors.conftest import run_kwargs
from ...servers import free_port, proxied, service
from .._brokers import PAYLOADS, publish_and_cut, published
from .conftest import Mosquitto

pytestmark = pytest.mark.timeout(60)


def connection(address: tuple[str, int] | None = None) -> MQTTConnection:
    host, port = address or service("mosquitto")
    return MQTTConnection(config={"host": host, "port": port, "reconnect_delay": 1})


def test_a_round_trip_keeps_order_and_counts_bad_input(
    executor: ExecutorName, mosquitto: Mosquitto
) -> None:
    inbox, outbox = mosquitto.topic("in"), mosquitto.topic("out")
    client_id = mosquitto.session("roundtrip", [inbox])
    out = mosquitto.collector(outbox)
    payloads = [orjson.dumps({"n": n}) for n in range(200)]
    bad = {17: b"{not json", 150: b"\xff\xfe", 199: b""}
    for at, body in bad.items():
        payloads[at] = body
    mosquitto.publish(inbox, payloads)

    def double(context: dict[str, object], event: dict[str, int]) -> dict[str, int]:
        return {"n": event["n"] * 2}

    source = MQTTSource(
        connection=connection(),
        config={"topics": inbox, "client_id": client_id, "decode": "json", "end_after_idle": 0.5},
    )
    dead = ListSink()
    pipeline = Pipeline("RoundTrip", error_policy="soft")
    pipeline.build(source, double, MQTTSink(connection=connection(), config={"topic": outbox}))
    pipeline.set_dead_letter(dead)
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))

    good = [n for n in range(200) if n not in bad]
    assert [orjson.loads(b)["n"] for b in out.received()] == [2 * n for n in good]
    assert [f.event for f in dead.Events] == list(bad.values())
    stats = report.statistics["RoundTrip"]
    assert (stats.event_in, stats.event_out, stats.rejected) == (197, 197, 3)
    counts = source.statistics()
    assert (counts.received, counts.rejected, counts.acknowledged) == (200, 3, 200)


def test_the_source_meets_the_acknowledgement_contract(
    executor: ExecutorName, mosquitto: Mosquitto
) -> None:
    topic = mosquitto.topic("conformance")
    client_id = mosquitto.session("conformance", [topic])
    serial = [0]

    def make_input(n: int) -> list[str]:
        texts = [f"m{serial[0] + i}" for i in range(n)]
        serial[0] += n
        mosquitto.publish(topic, [t.encode() for t in texts])
        return texts

    check = conformance.check_source(
        lambda: MQTTSource(
            connection=connection(),
            config={
                "topics": topic,
                "client_id": client_id,
                "decode": "text",
                "end_after_idle": 0.3,
            },
        ),
        make_input,
        executor,
        make_bad_input=lambda: mosquitto.publish(topic, [b"\xc3\x28 not utf-8"]),
    )
    assert check.bad_input_failures == 1


def test_the_sink_meets_the_acknowledgement_contract(
    executor: ExecutorName, mosquitto: Mosquitto
) -> None:
    topic = mosquitto.topic("sink")
    out = mosquitto.collector(topic)
    conformance.check_sink(
        lambda: MQTTSink(connection=connection(), config={"topic": topic}),
        lambda: [orjson.loads(b) for b in out.received()],
        executor,
    )


@pytest.mark.slow
def test_the_broker_going_away_and_back_loses_nothing(
    executor: ExecutorName, mosquitto: Mosquitto
) -> None:
    inbox, outbox = mosquitto.topic("cut-in"), mosquitto.topic("cut-out")
    client_id = mosquitto.session("cut", [inbox])
    out = mosquitto.collector(outbox)
    total = 600
    with proxied("mosquitto") as proxy:
        source = MQTTSource(
            connection=connection(proxy.address),
            config={"topics": inbox, "client_id": client_id, "end_after_idle": 0.6},
        )
        sink = MQTTSink(connection=connection(proxy.address), config={"topic": outbox})
        pipeline = Pipeline("Cut")
        pipeline.build(source, sink)

        feeder = threading.Thread(
            target=publish_and_cut, args=(lambda batch: mosquitto.publish(inbox, batch), proxy)
        )
        feeder.start()
        report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
        feeder.join()
    got = [int(b) for b in out.received()]
    assert set(got) == set(range(total)), sorted(set(range(total)) - set(got))[:10]
    assert not report.errors
    assert source.statistics().reconnects >= 1
    print(f"{executor}: {len(got) - total} duplicates after an outage")


def test_passwords_stay_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-pw"
    conn = MQTTConnection(
        config={
            "port": free_port(),
            "username": "app",
            "password": secret,
            "connect_timeout": 0.5,
        }
    )
    source = MQTTSource(connection=conn, config={"topics": "t", "client_id": "c"})
    with (
        caplog.at_level(logging.DEBUG, logger="pumpcore.mqtt"),
        pytest.raises(ConnectionError) as info,
    ):
        source.open()
    source.close()
    texts = [repr(conn), repr(source), str(info.value), caplog.text]
    assert all(secret not in text for text in texts), texts


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(
        st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(-(2**63), 2**64 - 1)),
        max_size=40,
    )
)
def test_any_events_arrive_once_each_in_order(mosquitto: Mosquitto, events: list[object]) -> None:
    """Property: whatever the events, the sink delivers each once, in order, encoded."""
    topic = mosquitto.topic(f"prop{len(mosquitto.collectors)}")
    out = mosquitto.collector(topic)
    pipeline = Pipeline("Prop")
    pipeline.build(
        IteratorSource(events), MQTTSink(connection=connection(), config={"topic": topic})
    )
    pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)
    assert out.received() == published(events)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=PAYLOADS)
def test_every_input_is_emitted_or_rejected_once_in_order(
    mosquitto: Mosquitto, payloads: list[bytes]
) -> None:
    """Property: each message becomes one event or one counted reject, in order; all acked."""
    label = f"propsrc{len(mosquitto.sessions)}"
    topic = mosquitto.topic(label)
    client_id = mosquitto.session(label, [topic])
    mosquitto.publish(topic, payloads)
    out, dead = ListSink(), ListSink()
    source = MQTTSource(
        connection=connection(),
        config={"topics": topic, "client_id": client_id, "decode": "json", "end_after_idle": 0.2},
    )
    pipeline = Pipeline("PropSource", error_policy="soft")
    pipeline.build(source, out)
    pipeline.set_dead_letter(dead)
    report = pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)
    good, bad = [], []
    for p in payloads:
        try:
            good.append(orjson.loads(p))
        except ValueError:
            bad.append(p)
    assert out.Events == good
    assert [f.event for f in dead.Events] == bad
    assert report.statistics["PropSource"].rejected == len(bad)
    assert source.statistics().acknowledged == len(payloads)
