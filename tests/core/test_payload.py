"""The payload codec the message adapters share (``pumpcore/_payload.py``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpcore.lowlevel import (
    PAYLOAD_DECODINGS,
    decode_payload,
    encode_payload,
    encode_typed_payload,
)
from pumpcore.testing import strategies as st_pump


@given(st_pump.json_values().filter(lambda v: not isinstance(v, str)))
def test_json_values_round_trip(value: Any) -> None:
    data = encode_payload(value)
    assert data == orjson.dumps(value)
    assert decode_payload(data, "json") == value
    assert encode_typed_payload(value) == (data, "application/json")


@given(st.binary(), st.sampled_from([bytes, bytearray, memoryview]))
def test_bytes_go_unchanged(data: bytes, kind: type[Any]) -> None:
    encoded = encode_payload(kind(data))
    assert type(encoded) is bytes
    assert encoded == data
    assert encode_typed_payload(kind(data)) == (data, None)
    assert decode_payload(data, "bytes") is data


@given(st.text())
def test_text_is_utf8(text: str) -> None:
    assert encode_payload(text) == text.encode("utf-8")
    assert encode_typed_payload(text) == (text.encode("utf-8"), "text/plain; charset=utf-8")
    assert decode_payload(encode_payload(text), "text") == text


def test_decodings_and_failures() -> None:
    assert PAYLOAD_DECODINGS == ("bytes", "text", "json")
    assert decode_payload("é".encode("latin-1"), "text", "latin-1") == "é"
    with pytest.raises(UnicodeDecodeError):
        decode_payload(b"\xff", "text")
    with pytest.raises(orjson.JSONDecodeError):
        decode_payload(b"{", "json")
    with pytest.raises(TypeError):
        encode_payload(object())
