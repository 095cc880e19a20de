"""Hypothesis strategies for users' property tests: events, JSON bytes, contexts and streams.

Needs hypothesis (``pip install "pumpcore[testing]"``).

Example:
    >>> from hypothesis import given
    >>> from pumpcore.testing import strategies as st_pump
    >>> @given(st_pump.json_bytes())
    ... def test_parser_never_crashes(line): ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import orjson
from hypothesis import strategies as st

JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]

_scalars: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value (no NaN or infinity, integers that survive a float round trip)."""
    return st.recursive(
        _scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=10), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def events(max_leaves: int = 20) -> st.SearchStrategy[dict[str, Any]]:
    """Dict events, the usual shape of a parsed record."""
    return st.dictionaries(st.text(min_size=1, max_size=10), json_values(max_leaves), max_size=8)


def json_bytes(malformed: bool = False) -> st.SearchStrategy[bytes]:
    """JSON documents as bytes; with ``malformed`` also truncated, garbled and non-UTF-8 ones."""
    good = events().map(orjson.dumps)
    if not malformed:
        return good
    bad = st.one_of(
        good.filter(lambda b: len(b) > 2).flatmap(
            lambda b: st.integers(1, len(b) - 1).map(lambda i: b[:i])
        ),
        st.binary(max_size=30).filter(_not_json),
        st.just(b"\xff\xfe{not utf-8}"),
    )
    return st.one_of(good, bad)


def _not_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    return False


def contexts() -> st.SearchStrategy[dict[str, Any]]:
    """Contexts as sources fill them: a few string keys with scalar values."""
    return st.dictionaries(st.text(min_size=1, max_size=10), _scalars, max_size=4)


@attrs.frozen
class StreamItem:
    """One item of a generated stream.

    Attributes:
        source: which source produced it.
        seq: its position in that source's original order (0, 1, 2, …).
        time: its event time; may go backwards (out of order, late).
        payload: the event.
        malformed: True when ``payload`` is deliberately broken (bytes that are not JSON).
        duplicate: True when it repeats an earlier item of the same source (same ``seq``).
    """

    source: str
    seq: int
    time: float
    payload: Any
    malformed: bool = False
    duplicate: bool = False


@st.composite
def event_streams(
    draw: st.DrawFn,
    sources: Sequence[str] = ("a", "b"),
    max_size: int = 50,
    out_of_order: bool = True,
    duplicates: bool = True,
    malformed: bool = True,
    max_lateness: float = 30.0,
) -> list[StreamItem]:
    """An interleaving of per-source streams with event times, disorder, repeats and garbage.

    Within each source, ``seq`` counts up in arrival order except for duplicates; event times
    grow but an out-of-order item may be up to ``max_lateness`` seconds older than the newest.
    """
    n = draw(st.integers(0, max_size))
    items: list[StreamItem] = []
    next_seq = dict.fromkeys(sources, 0)
    clock = dict.fromkeys(sources, 0.0)
    for _ in range(n):
        source = draw(st.sampled_from(list(sources)))
        previous = [it for it in items if it.source == source and not it.duplicate]
        if duplicates and previous and draw(st.integers(0, 9)) == 0:
            original = draw(st.sampled_from(previous))
            items.append(attrs.evolve(original, duplicate=True))
            continue
        clock[source] += draw(st.floats(0, 10, allow_nan=False))
        t = clock[source]
        if out_of_order and draw(st.integers(0, 4)) == 0:
            t = max(0.0, t - draw(st.floats(0, max_lateness, allow_nan=False)))
        bad = malformed and draw(st.integers(0, 9)) == 0
        payload: Any = {"source": source, "seq": next_seq[source], "time": t}
        if bad:
            # A proper prefix of a JSON object is never valid JSON; a stray byte is not UTF-8.
            encoded = orjson.dumps(payload)
            cut = draw(st.integers(0, len(encoded) - 1))
            payload = draw(st.sampled_from([encoded[:cut], b"\xff" + encoded[1:]]))
        items.append(StreamItem(source, next_seq[source], t, payload, malformed=bad))
        next_seq[source] += 1
    return items
