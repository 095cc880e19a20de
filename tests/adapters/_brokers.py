"""What the broker adapters' tests (AMQP, MQTT, NATS) share: the payloads their properties draw,
the bytes a sink must publish for an event, and a feeder that cuts the broker mid-stream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from hypothesis import strategies as st

from ..servers import TcpProxy

# JSON messages and short binary ones (mostly not JSON: rejected by a source decoding JSON).
PAYLOADS = st.lists(
    st.one_of(
        st.integers(0, 10**6).map(lambda n: orjson.dumps({"n": n})),
        st.binary(max_size=8),
    ),
    max_size=30,
)


def published(events: Iterable[Any]) -> list[bytes]:
    """The bytes a sink publishes for each event: bytes as they are, text as UTF-8, else JSON."""
    return [
        e if isinstance(e, bytes) else e.encode() if isinstance(e, str) else orjson.dumps(e)
        for e in events
    ]


def publish_and_cut(publish: Callable[[list[bytes]], None], proxy: TcpProxy) -> None:
    """Publish 600 numbered messages in six chunks; after the third, the broker goes away for
    0.3 s (the proxy is cut) and comes back."""
    for chunk in range(6):
        publish([b"%d" % n for n in range(chunk * 100, chunk * 100 + 100)])
        time.sleep(0.05)
        if chunk == 2:
            proxy.cut()
            time.sleep(0.3)
            proxy.resume()
