"""AMQPSource and AMQPSink against RabbitMQ, on every executor: a round trip with bad input
dead-lettered, the acknowledgement contract (conformance), a publish the broker refuses raising
from flush, the broker going away and coming back, and no password in reprs or logs."""

from __future__ import annotations

import logging
import threading

import orjson
import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_amqp import (
    AMQPConnection,
    AMQPDeadLetterSink,
    AMQPSink,
    AMQPSource,
)
from pumpcore_executors import ExecutorName

from pumpcore import Pipeline
from pumpcore.common import IteratorSource, ListSink
from pumpcore.testing import conformance

from ...executors.conftest import run_kwargs
from ...servers import free_port, proxied
from .._brokers import PAYLOADS, publish_and_cut, published
from .conftest import Broker, url

pytestmark = pytest.mark.timeout(60)


def connection(address: tuple[str, int] | None = None) -> AMQPConnection:
    return AMQPConnection(config={"url": url(address), "reconnect_delay": 0.1})


def test_a_round_trip_keeps_order_and_dead_letters_bad_input(
    executor: ExecutorName, broker: Broker
) -> None:
    inbox, outbox, dead = broker.queue("in"), broker.queue("out"), broker.queue("dead")
    bodies = [orjson.dumps({"n": n}) for n in range(300)]
    bad = {17: b"{not json", 150: b"\xff\xfe", 299: b""}
    for at, body in bad.items():
        bodies[at] = body
    broker.publish(inbox, bodies)

    def double(context: dict[str, object], event: dict[str, int]) -> dict[str, int]:
        return {"n": event["n"] * 2}

    source = AMQPSource(
        connection=connection(),
        config={"queue": inbox, "decode": "json", "end_after_idle": 0.5},
    )
    pipeline = Pipeline("RoundTrip", error_policy="soft")
    pipeline.build(
        source, double, AMQPSink(connection=connection(), config={"routing_key": outbox})
    )
    pipeline.set_dead_letter(
        AMQPDeadLetterSink(connection=connection(), config={"routing_key": dead})
    )
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))

    good = [n for n in range(300) if n not in bad]
    assert [orjson.loads(b)["n"] for b in broker.drain(outbox)] == [2 * n for n in good]
    assert broker.drain(dead) == list(bad.values())  # the raw bodies, in order
    stats = report.statistics["RoundTrip"]
    assert (stats.event_in, stats.event_out, stats.rejected, stats.dead_letter) == (297, 297, 3, 3)
    assert broker.count(inbox) == 0  # every delivery acknowledged, none requeued
    counts = source.statistics()
    assert (counts.received, counts.rejected, counts.acknowledged) == (300, 3, 300)


def test_the_source_meets_the_acknowledgement_contract(
    executor: ExecutorName, broker: Broker
) -> None:
    inbox = broker.queue("conformance")
    serial = [0]

    def make_input(n: int) -> list[str]:
        texts = [f"m{serial[0] + i}" for i in range(n)]
        serial[0] += n
        broker.publish(inbox, [t.encode() for t in texts])
        return texts

    check = conformance.check_source(
        lambda: AMQPSource(
            connection=connection(),
            config={"queue": inbox, "decode": "text", "end_after_idle": 0.3},
        ),
        make_input,
        executor,
        make_bad_input=lambda: broker.publish(inbox, [b"\xc3\x28 not utf-8"]),
    )
    assert check.bad_input_failures == 1
    assert broker.count(inbox) == 0


def test_the_sink_meets_the_acknowledgement_contract(
    executor: ExecutorName, broker: Broker
) -> None:
    outbox = broker.queue("sink")
    conformance.check_sink(
        lambda: AMQPSink(connection=connection(), config={"routing_key": outbox}),
        lambda: [orjson.loads(b) for b in broker.drain(outbox)],
        executor,
    )


def test_an_unroutable_message_fails_the_flush_and_nothing_is_acknowledged(
    executor: ExecutorName, broker: Broker
) -> None:
    inbox = broker.queue("unroutable")
    broker.publish(inbox, [b"a", b"b", b"c"])
    sink = AMQPSink(connection=connection(), config={"routing_key": inbox + ".nowhere"})
    pipeline = Pipeline("Unroutable")
    pipeline.build(
        AMQPSource(connection=connection(), config={"queue": inbox, "end_after_idle": 0.3}), sink
    )
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert "AMQPPublishError" in report.errors["Unroutable"], report.errors
    assert "unroutable" in report.errors["Unroutable"]
    assert report.statistics["Unroutable"].source_error == 1
    assert sink.statistics().failed == 3
    assert broker.count(inbox) == 3  # nothing acknowledged: all back in the queue


@pytest.mark.slow
def test_the_broker_going_away_and_back_loses_nothing(
    executor: ExecutorName, broker: Broker
) -> None:
    inbox, outbox = broker.queue("cut-in"), broker.queue("cut-out")
    total = 600
    with proxied("rabbitmq") as proxy:
        source = AMQPSource(
            connection=connection(proxy.address),
            config={"queue": inbox, "end_after_idle": 0.6, "prefetch_count": 50},
        )
        sink = AMQPSink(connection=connection(proxy.address), config={"routing_key": outbox})
        pipeline = Pipeline("Cut")
        pipeline.build(source, sink)

        feeder = threading.Thread(
            target=publish_and_cut, args=(lambda batch: broker.publish(inbox, batch), proxy)
        )
        feeder.start()
        report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
        feeder.join()
    out = [int(b) for b in broker.drain(outbox)]
    assert set(out) == set(range(total)), sorted(set(range(total)) - set(out))[:10]
    assert not report.errors
    assert source.statistics().reconnects >= 1
    assert broker.count(inbox) == 0
    print(f"{executor}: {len(out) - total} duplicates after an outage")


def test_passwords_stay_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-pw"
    conn = AMQPConnection(
        config={
            "url": f"amqp://app:{secret}@127.0.0.1:{free_port()}/%2F",
            "connect_timeout": 0.5,
            "reconnect_delay": 0.1,
        }
    )
    source = AMQPSource(connection=conn, config={"queue": "q"})
    with (
        caplog.at_level(logging.DEBUG, logger="pumpcore.amqp"),
        pytest.raises(ConnectionError) as info,
    ):
        source.open()
    source.close()
    texts = [repr(conn), repr(source), str(info.value), caplog.text]
    assert all(secret not in text for text in texts), texts
    assert "app:***@127.0.0.1" in repr(conn)
    with_key = AMQPConnection(config={"password": secret})
    assert secret not in repr(with_key)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(
        st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(-(2**63), 2**64 - 1)),
        max_size=40,
    )
)
def test_any_events_arrive_once_each_in_order(broker: Broker, events: list[object]) -> None:
    """Property: whatever the events, the sink delivers each once, in order, encoded."""
    outbox = broker.queue("prop")
    pipeline = Pipeline("Prop")
    pipeline.build(
        IteratorSource(events), AMQPSink(connection=connection(), config={"routing_key": outbox})
    )
    pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)
    assert broker.drain(outbox) == published(events)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=PAYLOADS)
def test_every_input_is_emitted_or_rejected_once_in_order(
    broker: Broker, payloads: list[bytes]
) -> None:
    """Property: each delivery becomes one event or one counted reject, in order; all acked."""
    inbox = broker.queue("prop-src")
    broker.publish(inbox, payloads)
    out = ListSink()
    pipeline = Pipeline("PropSource", error_policy="soft")
    pipeline.build(
        AMQPSource(
            connection=connection(),
            config={"queue": inbox, "decode": "json", "end_after_idle": 0.2},
        ),
        out,
    )
    dead = ListSink()
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
    assert broker.count(inbox) == 0
