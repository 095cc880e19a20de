"""HTTPClientSink: sends each event to a URL, retrying, and raising when it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from pumpcore import ConfigError, Context, Sink

from ._client import (
    HTTPClientStatistics,
    RetryingClient,
    accepts,
    new_session,
    parse_codes,
    parse_str_mapping,
    positive,
)

if TYPE_CHECKING:
    import requests

    from pumpcore import Pipeline


class HTTPClientSink(Sink):
    """Sends each event as the body of one request (POST by default).

    ``bytes`` go as they are, ``str`` as UTF-8 text, anything else as JSON (orjson); a
    ``Content-Type`` is set for text and JSON unless the configured headers set one. A failed
    attempt is retried (see ``pumpcore_http``'s retry rules); when the last one fails, ``process``
    raises ``HTTPClientError`` and the pipeline's error policy handles the event, so it is counted
    and, with a dead-letter sink, kept, never silently dropped.

    ``process`` blocks while it sends, retries and chills down. Connections are kept alive
    between events and closed by ``flush``, so a pump leaves none open when its run ends.

    Config:
        url: where to send. Required.
        method: the HTTP method.
        headers: request headers: a dict, or a JSON object in a config file.
        response_code: the accepted status codes; ``""`` accepts any 2xx.
        retries: how many times a failed attempt is retried.
        fail_chilldown: seconds to wait before each retry.
        timeout: seconds to wait for the connection and for each read of the response.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "",
        "method": "POST",
        "headers": None,
        "response_code": "",
        "retries": 2,
        "fail_chilldown": 1.0,
        "timeout": 30.0,
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._session: requests.Session | None = None
        super().__init__(pipeline, id, config)
        self._client = RetryingClient(type(self).__name__)
        self._apply_config()

    def reconfigure(self, *sections: Mapping[str, str]) -> None:
        """Resolve the configuration again (on joining a pipeline) and check it."""
        super().reconfigure(*sections)
        self._apply_config()

    def _apply_config(self) -> None:
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: Where events are sent.
        self.URL = str(config["url"])
        #: The HTTP method, upper case.
        self.Method = str(config["method"]).upper()
        if not self.Method.isalpha():
            raise ConfigError(
                f"{owner}: config key 'method' is not an HTTP method: {self.Method!r}"
            )
        #: Request headers.
        self.Headers = parse_str_mapping(owner, "headers", config["headers"])
        #: Accepted status codes (empty: any 2xx).
        self.ResponseCodes = parse_codes(owner, "response_code", config["response_code"])
        self._retries = int(positive(owner, "retries", config["retries"], allow_zero=True))
        self._chilldown = positive(
            owner, "fail_chilldown", config["fail_chilldown"], allow_zero=True
        )
        self._timeout = positive(owner, "timeout", config["timeout"], allow_zero=False)
        self._has_content_type = any(k.lower() == "content-type" for k in self.Headers)
        if self.Pipeline is not None and not self.URL:
            raise ConfigError(f"{owner}: config key 'url' is empty; give the URL to send to")

    def statistics(self) -> HTTPClientStatistics:
        """Requests sent, failed attempts and events given up so far."""
        return self._client.statistics()

    def encode(self, event: Any) -> tuple[bytes, str | None]:
        """The request body for ``event`` and its content type (None: leave it unset).

        Override it for another wire format.

        Raises:
            TypeError: the event cannot be written as JSON.
        """
        if isinstance(event, bytes | bytearray | memoryview):
            return bytes(event), None
        if isinstance(event, str):
            return event.encode("utf-8"), "text/plain; charset=utf-8"
        return orjson.dumps(event), "application/json"

    def process(self, context: Context, event: Any) -> None:
        """Send the event.

        Raises:
            HTTPClientError: no attempt got an accepted response.
            TypeError: the event cannot be encoded.
        """
        body, content_type = self.encode(event)
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

    def flush(self) -> None:
        """Every event taken was already answered; close the kept-alive connections."""
        session, self._session = self._session, None
        if session is not None:
            session.close()
