"""Line protocol escaping as properties: encoding then parsing gives the point back (pure, many
examples), and what the encoder accepts the real server stores exactly — measurement, tags,
fields and time, read back by a query — on every executor (a bounded number of examples).
Whatever the encoder refuses (``ValueError``: names line protocol cannot write) is counted by
the pipeline, never written as something else."""

from __future__ import annotations

import uuid
from typing import Any

import pumpcore_executors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pumpcore_influxdb import InfluxDBSink, encode_point, parse_line

from pumpcore import Pipeline
from pumpcore.common import IteratorSource
from pumpcore.testing import conformance

from ._server import Influx

# Names: any text, with line protocol's special characters (and a comment's '#', a line break)
# drawn often.
NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(',= "\\#\n'),
    min_size=1,
    max_size=8,
)
VALUES = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)


@settings(max_examples=1000, deadline=None)
@given(
    NAMES,
    st.dictionaries(NAMES, NAMES | st.integers(), max_size=3),
    st.dictionaries(NAMES, VALUES, max_size=3),
    st.none() | st.integers(-(2**62), 2**62),
)
def test_a_point_parses_back_to_itself(
    measurement: str, tags: dict[str, Any], fields: dict[str, Any], time: int | None
) -> None:
    try:
        line = encode_point(measurement, tags, fields, time)
    except ValueError:
        # Refused only for what line protocol cannot hold (the module's rule 2).
        names = [measurement, *tags, *map(str, tags.values()), *fields]
        assert (
            not fields
            or measurement.startswith("#")
            or any("\n" in n or "\r" in n or "\\" in n for n in names)
        )
        return
    point = parse_line(line)
    assert point.measurement == measurement
    assert point.tags == {k: str(v) for k, v in tags.items() if v != ""}
    assert point.fields == fields
    assert point.time == time


# Names the server takes: "time" is reserved as a key in InfluxDB 1.x.
SERVER_NAMES = NAMES.filter(lambda n: n != "time")
POINTS = st.fixed_dictionaries(
    {
        "measurement": SERVER_NAMES,
        "tags": st.dictionaries(SERVER_NAMES, SERVER_NAMES, max_size=2),
        "fields": st.dictionaries(SERVER_NAMES, VALUES, min_size=1, max_size=3),
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("executor", conformance.executor_params())
def test_the_server_stores_exactly_what_was_encoded(influx: Influx, executor: str) -> None:
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(POINTS, min_size=1, max_size=6))
    def check(points: list[dict[str, Any]]) -> None:
        db = f"p_{uuid.uuid4().hex[:12]}"
        connection = influx.connect(db)
        connection.query(f'CREATE DATABASE "{db}"')
        try:
            # Field keys start with "f<point>_": they never meet a tag key of the same name, nor
            # a field of another type in an earlier point (a type conflict, refused).
            events = [
                {
                    "measurement": p["measurement"],
                    "tags": {k: v for k, v in p["tags"].items() if not k.startswith("f")},
                    "fields": {f"f{i}_{k}": v for k, v in p["fields"].items()},
                    "time": i + 1,
                }
                for i, p in enumerate(points)
            ]
            writable = []
            for event in events:
                try:
                    encode_point(event["measurement"], event["tags"], event["fields"], 0)
                except ValueError:
                    continue
                writable.append(event)
            sink = InfluxDBSink(connection)
            p = Pipeline("LP", error_policy="soft")
            p.build(IteratorSource(events), sink)
            extra = {"blocking_threshold": 0.5} if executor in ("asyncio", "trio") else {}
            report = pumpcore_executors.run(p, executor=executor, handle_signals=False, **extra)  # type: ignore[arg-type]
            assert report.statistics["LP"].warning == len(events) - len(writable)
            assert sink.statistics().dead_lettered == 0, "the server refused an encoded line"
            for event in writable:
                rows = influx.rows(
                    db, f"SELECT * FROM /.*/ WHERE time = {event['time']} GROUP BY *"
                )
                assert len(rows) == 1, (event, rows)
                row = rows[0]
                assert row.pop("measurement") == event["measurement"]
                assert row.pop("time") == f"1970-01-01T00:00:00.{event['time']:09d}Z"
                # GROUP BY * shows other series' tag keys as "" and their fields as None.
                fields = {k: v for k, v in row.items() if k in event["fields"]}
                tags = {k: v for k, v in row.items() if k not in fields and v not in ("", None)}
                assert tags == {k: str(v) for k, v in event["tags"].items() if v != ""}
                # A float comes back as JSON text that may look like an integer (1e16 as
                # 10000000000000000): the same value, compared as a float.
                sent = event["fields"]
                got = {k: float(v) if isinstance(sent[k], float) else v for k, v in fields.items()}
                assert got == sent
        finally:
            connection.query(f'DROP DATABASE "{db}"')

    check()
