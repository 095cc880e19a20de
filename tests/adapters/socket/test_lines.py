"""The pure parts: the line splitter (scripted cases, then a property over every chunking),
address parsing and event encoding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pumpcore_socket._address import Address, format_sockaddr, parse_addresses
from pumpcore_socket._lines import LineSplitter, encode_event

from pumpcore import ConfigError

pytestmark = pytest.mark.timeout(30)


def split_all(chunks: list[bytes], limit: int) -> tuple[list[bytes], LineSplitter]:
    splitter = LineSplitter(limit)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines, splitter


def test_lines_end_at_newline_and_lose_one_carriage_return() -> None:
    lines, splitter = split_all([b"a\r\nb\n\n", b"c\r\r\n", b"d"], 10)
    assert lines == [b"a", b"b", b"", b"c\r"]
    assert (splitter.too_long, splitter.pending) == (0, 1)


def test_an_over_long_line_is_skipped_without_being_held() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"ok\n12345") == [b"ok"]
    assert (splitter.too_long, splitter.pending) == (1, 0)  # counted once it is too long
    assert splitter.feed(b"6789" * 1000) == []
    assert splitter.pending == 0  # nothing of it is kept
    assert splitter.feed(b"0\nnext\n") == [b"next"]
    assert splitter.too_long == 1  # and counted once
    assert splitter.feed(b"1234\n12345\n") == [b"1234"]  # the limit itself is allowed
    assert splitter.too_long == 2


line_bytes = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"."))


@given(
    lines=st.lists(line_bytes, max_size=12),
    tail=line_bytes,
    limit=st.integers(1, 10),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_any_chunking_gives_the_same_lines_and_counts(
    lines: list[bytes], tail: bytes, limit: int, cuts: list[int]
) -> None:
    stream = b"".join(line + b"\n" for line in lines) + tail
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    got, splitter = split_all(chunks, limit)
    assert got == [
        line[:-1] if line.endswith(b"\r") else line for line in lines if len(line) <= limit
    ]
    tail_too_long = len(tail) > limit
    assert splitter.too_long == sum(len(line) > limit for line in lines) + tail_too_long
    assert splitter.pending == (0 if tail_too_long else len(tail))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1 8888", [Address("127.0.0.1", 8888)]),
        ("  0.0.0.0   8083 ", [Address("0.0.0.0", 8083)]),
        (":: 8080", [Address("::", 8080)]),
        ("* 0", [Address(None, 0)]),
        ("127.0.0.1:8001", [Address("127.0.0.1", 8001)]),  # BSPump's obsolete form
        ("[::1]:9000", [Address("::1", 9000)]),
        ("/run/pump.sock", [Address(path="/run/pump.sock")]),
        ("pump.sock", [Address(path="pump.sock")]),
        ("a 1\nb 2;/c", [Address("a", 1), Address("b", 2), Address(path="/c")]),
        ("a 1\n\n;", [Address("a", 1)]),
    ],
)
def test_addresses_are_read_as_bspump_writes_them(text: str, expected: list[Address]) -> None:
    assert list(parse_addresses("X", "address", text, many=True)) == expected


def test_addresses_are_written_back_in_config_form() -> None:
    assert [str(a) for a in parse_addresses("X", "k", "* 1;h 2;/p", many=True)] == [
        "* 1",
        "h 2",
        "/p",
    ]
    assert format_sockaddr(("::1", 80, 0, 0)) == "::1 80"
    assert format_sockaddr("/run/x.sock") == "/run/x.sock"
    assert format_sockaddr(b"\x00abstract") == "\x00abstract"


@pytest.mark.parametrize("text", ["", " \n ;", "h 70000", "h port"])
def test_bad_addresses_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="X: config key 'address'"):
        parse_addresses("X", "address", text, many=True)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (b"raw", b"raw"),
        (bytearray(b"ba"), b"ba"),
        ("ünï", "ünï".encode()),
        ({"a": [1, None]}, b'{"a":[1,null]}'),
        (["x"], b'["x"]'),
    ],
)
def test_events_are_encoded_for_the_wire(event: Any, expected: bytes) -> None:
    assert encode_event(event, "utf-8") == expected


def test_other_events_are_bad_events() -> None:
    with pytest.raises(TypeError, match="cannot send a int event"):
        encode_event(42, "utf-8")
    with pytest.raises(UnicodeEncodeError):
        encode_event("ü", "ascii")


def test_an_incomplete_line_is_taken_once_the_connection_ended() -> None:
    splitter = LineSplitter(max_line_length=10)
    assert splitter.feed(b"whole\ncut sh") == [b"whole"]
    assert splitter.take_pending() == b"cut sh"
    assert (splitter.pending, splitter.take_pending()) == (0, b"")
