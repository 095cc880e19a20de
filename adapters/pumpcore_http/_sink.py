"""HTTPClientSink: buffers events, sends them to a URL on flush, retrying, raising when it cannot.

It is a ``BlockingSink``: ``process`` runs on the executor's loop thread, so it only encodes and
buffers; ``flush`` runs in a worker thread and sends (each event, or ``batch_size`` of them per
request). The executor acknowledges the sources' positions only after ``flush`` returned, so an
event is never acknowledged before the server accepted it.

Rules:
1. ``flush`` sends the buffer in order and returns once every request was accepted.
2. A request that still fails after its retries (see ``pumpcore_http``'s retry rules) makes
   ``flush`` raise ``HTTPClientError``: never a silent drop. The events of that request are given
   up (counted in ``statistics().failures``; the run is poisoned, so nothing from here on is
   acknowledged and a restart sends them again); the events after it stay buffered and go first
   on the next flush.
3. An event that cannot be encoded raises from ``process``: the pipeline's error policy handles
   it, without a request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pumpcore import BlockingSink, ConfigError, ConfigRule, Context
from pumpcore.config import in_range
from pumpcore.lowlevel import encode_typed_payload

from ._client import (
    CLIENT_RULES,
    HTTPClientStatistics,
    RetryingClient,
    accepts,
    new_session,
    parse_codes,
    parse_str_mapping,
)

if TYPE_CHECKING:
    import requests

    from pumpcore import Pipeline


class HTTPClientSink(BlockingSink):
    """Sends events as request bodies (POST by default), one event per request or in batches.

    ``bytes`` go as they are, ``str`` as UTF-8 text, anything else as JSON (orjson); a
    ``Content-Type`` is set for text and JSON unless the configured headers set one. A batch
    (``batch_size`` above 1) is the events' bodies each followed by a newline (NDJSON for JSON
    events, ``application/x-ndjson``). Sending happens in ``flush`` (see the module rules);
    connections are kept alive between flushes and closed by ``close``.

    Config:
        url: where to send. Required.
        method: the HTTP method.
        headers: request headers: a dict, or a JSON object in a config file.
        response_code: the accepted status codes; ``""`` accepts any 2xx.
        retries: how many times a failed attempt is retried.
        fail_chilldown: seconds to wait before each retry.
        timeout: seconds to wait for the connection and for each read of the response.
        batch_size: events per request (1: BSPump's one request per event).
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "",
        "method": "POST",
        "headers": None,
        "response_code": "",
        "retries": 2,
        "fail_chilldown": 1.0,
        "timeout": 30.0,
        "batch_size": 1,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        **CLIENT_RULES,
        "batch_size": in_range(1, 2**20),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._session: requests.Session | None = None
        self._buffer: deque[tuple[bytes, str | None]] = deque()
        super().__init__(pipeline, id, config)
        self._client = RetryingClient(type(self).__name__)

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: Where events are sent.
        self.URL = str(config["url"])
        #: The HTTP method, upper case.
        self.Method = str(config["method"]).upper()
        #: Request headers.
        self.Headers = parse_str_mapping(owner, "headers", config["headers"])
        #: Accepted status codes (empty: any 2xx).
        self.ResponseCodes = parse_codes(owner, "response_code", config["response_code"])
        self._retries = int(config["retries"])
        self._chilldown = float(config["fail_chilldown"])
        self._timeout = float(config["timeout"])
        self._batch_size = int(config["batch_size"])
        self._has_content_type = any(k.lower() == "content-type" for k in self.Headers)
        if self.Pipeline is not None and not self.URL:
            raise ConfigError(f"{owner}: config key 'url' is empty; give the URL to send to")

    def statistics(self) -> HTTPClientStatistics:
        """Requests sent, failed attempts and requests given up so far."""
        return self._client.statistics()

    def encode(self, event: Any) -> tuple[bytes, str | None]:
        """The request body for ``event`` and its content type (None: leave it unset).

        Override it for another wire format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        return encode_typed_payload(event)

    def encode_batch(self, bodies: Sequence[tuple[bytes, str | None]]) -> tuple[bytes, str | None]:
        """One request body for several encoded events: each followed by a newline.

        Override it for another batch format (a JSON array, a bulk API's framing).
        """
        types = {content_type for _, content_type in bodies}
        content_type = None
        if types == {"application/json"}:
            content_type = "application/x-ndjson"
        elif len(types) == 1:
            content_type = types.pop()
        return b"".join(body + b"\n" for body, _ in bodies), content_type

    def process(self, context: Context, event: Any) -> None:
        """Encode the event and buffer it for the next flush.

        Raises:
            TypeError: the event cannot be encoded (rule 3).
        """
        self._buffer.append(self.encode(event))

    def flush(self) -> None:
        """Send everything buffered, in order (rules 1 and 2).

        Raises:
            HTTPClientError: a request got no accepted response after its retries.
        """
        buffer = self._buffer
        while buffer:
            n = min(self._batch_size, len(buffer))
            chunk = [buffer[i] for i in range(n)]
            single = self._batch_size == 1  # a short last batch keeps the batch format
            body, content_type = chunk[0] if single else self.encode_batch(chunk)
            for _ in range(n):
                buffer.popleft()  # given up if the send raises (rule 2)
            self._send(body, content_type)

    def _send(self, body: bytes, content_type: str | None) -> None:
        headers = dict(self.Headers)
        if content_type is not None and not self._has_content_type:
            headers["Content-Type"] = content_type
        if self._session is None:
            self._session = new_session()
        response, _ = self._client.send(
            self._session,
            self.Method,
            self.URL,
            accept=accepts(self.ResponseCodes),
            retries=self._retries,
            chilldown=self._chilldown,
            timeout=self._timeout,
            headers=headers,
            data=body,
        )
        response.close()

    def close(self) -> None:
        """Close the kept-alive connections. Events still buffered (the last flush failed) are
        not sent; they were never acknowledged."""
        session, self._session = self._session, None
        self._buffer.clear()
        if session is not None:
            session.close()
