"""NATSSource and NATSSink against NATS JetStream, on every executor: a round trip with bad input
counted, the acknowledgement contract (conformance), a subject without a stream failing the
flush, the server going away and coming back, and no password in reprs or errors."""

from __future__ import annotations

import threading
import uuid

import orjson
import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_executors import ExecutorName
from pumpcore_nats import NATSConnection, NATSSink, NATSSource

from pumpcore import Pipeline, Sink
from pumpcore.common import IteratorSource, ListSink
from pumpcore.testing import conformance

from ...executors.conftest import run_kwargs
from ...servers import free_port, proxied
from .._brokers import PAYLOADS, publish_and_cut, published
from .conftest import JetStream, url

pytestmark = pytest.mark.timeout(60)


def connection(address: tuple[str, int] | None = None) -> NATSConnection:
    return NATSConnection(config={"servers": url(address), "reconnect_time_wait": 0.1})


def durable() -> str:
    return f"pump_{uuid.uuid4().hex[:8]}"


def test_a_round_trip_keeps_order_and_counts_bad_input(
    executor: ExecutorName, jetstream: JetStream
) -> None:
    inbox, in_subject = jetstream.stream("in")
    outbox, out_subject = jetstream.stream("out")
    payloads = [orjson.dumps({"n": n}) for n in range(300)]
    bad = {17: b"{not json", 150: b"\xff\xfe", 299: b""}
    for at, body in bad.items():
        payloads[at] = body
    jetstream.publish(in_subject, payloads)

    def double(context: dict[str, object], event: dict[str, int]) -> dict[str, int]:
        return {"n": event["n"] * 2}

    source = NATSSource(
        connection=connection(),
        config={"stream": inbox, "durable": durable(), "decode": "json", "end_after_idle": 0.5},
    )
    dead: ListSink = ListSink()
    pipeline = Pipeline("RoundTrip", error_policy="soft")
    pipeline.build(
        source, double, NATSSink(connection=connection(), config={"subject": out_subject})
    )
    pipeline.set_dead_letter(dead)
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))

    good = [n for n in range(300) if n not in bad]
    assert [orjson.loads(b)["n"] for b in jetstream.messages(outbox)] == [2 * n for n in good]
    assert [f.event for f in dead.Events] == list(bad.values())
    stats = report.statistics["RoundTrip"]
    assert (stats.event_in, stats.event_out, stats.rejected) == (297, 297, 3)
    counts = source.statistics()
    assert (counts.received, counts.rejected, counts.acknowledged) == (300, 3, 300)
    assert jetstream.acked(inbox, source.Durable) == 300


def test_the_source_meets_the_acknowledgement_contract(
    executor: ExecutorName, jetstream: JetStream
) -> None:
    stream, subject = jetstream.stream("conformance")
    name = durable()
    serial = [0]

    def make_input(n: int) -> list[str]:
        texts = [f"m{serial[0] + i}" for i in range(n)]
        serial[0] += n
        jetstream.publish(subject, [t.encode() for t in texts])
        return texts

    check = conformance.check_source(
        lambda: NATSSource(
            connection=connection(),
            config={"stream": stream, "durable": name, "decode": "text", "end_after_idle": 0.3},
        ),
        make_input,
        executor,
        make_bad_input=lambda: jetstream.publish(subject, [b"\xc3\x28 not utf-8"]),
    )
    assert check.bad_input_failures == 1
    # Read but not acknowledged by the run that failed: given back at close, not left waiting.
    assert check.sources[0].statistics().nacked > 0  # type: ignore[attr-defined]


def test_the_sink_meets_the_acknowledgement_contract(
    executor: ExecutorName, jetstream: JetStream
) -> None:
    stream, subject = jetstream.stream("sink")
    conformance.check_sink(
        lambda: NATSSink(connection=connection(), config={"subject": subject}),
        lambda: [orjson.loads(b) for b in jetstream.messages(stream)],
        executor,
    )


def test_a_subject_without_a_stream_fails_the_flush(executor: ExecutorName) -> None:
    sink = NATSSink(connection=connection(), config={"subject": f"pct.nowhere.{uuid.uuid4().hex}"})
    pipeline = Pipeline("NoStream")
    pipeline.build(IteratorSource([b"a", b"b"]), sink)
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert "NATSPublishError" in report.errors["NoStream"], report.errors
    assert sink.statistics().failed == 2


@pytest.mark.slow
def test_the_server_going_away_and_back_loses_nothing(
    executor: ExecutorName, jetstream: JetStream
) -> None:
    inbox, in_subject = jetstream.stream("cut_in")
    outbox, out_subject = jetstream.stream("cut_out")
    total = 600
    with proxied("nats") as proxy:
        source = NATSSource(
            connection=connection(proxy.address),
            config={"stream": inbox, "durable": durable(), "end_after_idle": 0.6, "ack_wait": 2},
        )
        sink = NATSSink(connection=connection(proxy.address), config={"subject": out_subject})
        pipeline = Pipeline("Cut")
        pipeline.build(source, sink)

        feeder = threading.Thread(
            target=publish_and_cut, args=(lambda batch: jetstream.publish(in_subject, batch), proxy)
        )
        feeder.start()
        report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
        feeder.join()
    out = [int(b) for b in jetstream.messages(outbox)]
    assert set(out) == set(range(total)), sorted(set(range(total)) - set(out))[:10]
    assert not report.errors
    assert source.statistics().disconnects >= 1
    print(f"{executor}: {len(out) - total} duplicates after an outage")


def test_passwords_stay_out_of_reprs_and_errors() -> None:
    secret = "s3cr3t-pw"
    conn = NATSConnection(
        config={"servers": f"nats://app:{secret}@127.0.0.1:{free_port()}", "connect_timeout": 1}
    )
    source = NATSSource(connection=conn, config={"stream": "S", "durable": "d"})
    with pytest.raises(ConnectionError) as info:
        source.open()
    source.close()
    texts = [repr(conn), repr(source), str(info.value)]
    assert all(secret not in text for text in texts), texts
    assert "app:***@127.0.0.1" in repr(conn)
    assert secret not in repr(NATSConnection(config={"password": secret, "token": secret}))


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(
        st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(-(2**63), 2**64 - 1)),
        max_size=40,
    )
)
def test_any_events_arrive_once_each_in_order(jetstream: JetStream, events: list[object]) -> None:
    """Property: whatever the events, the sink stores each once, in order, encoded."""
    stream, subject = jetstream.stream("prop")
    sink: Sink = NATSSink(connection=connection(), config={"subject": subject})
    pipeline = Pipeline("Prop")
    pipeline.build(IteratorSource(events), sink)
    pumpcore_executors.run(pipeline, executor="sync", handle_signals=False)
    assert jetstream.messages(stream) == published(events)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=PAYLOADS)
def test_every_input_is_emitted_or_rejected_once_in_order(
    jetstream: JetStream, payloads: list[bytes]
) -> None:
    """Property: each message becomes one event or one counted reject, in order; all acked."""
    stream, subject = jetstream.stream("propsrc")
    jetstream.publish(subject, payloads)
    out, dead = ListSink(), ListSink()
    source = NATSSource(
        connection=connection(),
        config={"stream": stream, "durable": durable(), "decode": "json", "end_after_idle": 0.2},
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
    assert jetstream.acked(stream, source.Durable) == len(payloads)
