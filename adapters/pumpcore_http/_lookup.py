"""HTTPLookupProvider: a lookup's table from a JSON object served over HTTP, with ETags."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._client import RetryingClient, new_session


class HTTPLookupProvider:
    """GETs a JSON object for a ``pumpcore.lookup`` lookup.

    After a load it remembers the response's ``ETag`` and sends it as ``If-None-Match`` next
    time; a ``304 Not Modified`` answer makes ``load`` return None (unchanged), so a refresh
    trigger can poll a large table cheaply.

    Args:
        url: where the table is served.
        headers: extra request headers.
        params: query parameters.
        timeout: seconds to wait for the connection and for each read.
        retries: how many times a failed attempt is retried (see ``pumpcore_http``'s rules).
        fail_chilldown: seconds to wait before each retry.

    Example:
        >>> provider = HTTPLookupProvider("http://127.0.0.1:8080/countries.json")
        >>> provider.etag is None
        True
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        fail_chilldown: float = 1.0,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.timeout = timeout
        self.retries = retries
        self.fail_chilldown = fail_chilldown
        #: The ETag of the table last loaded, None before a load or when the server sends none.
        self.etag: str | None = None
        self._client = RetryingClient(type(self).__name__)

    def load(self) -> Mapping[Any, Any] | None:
        """The served object, or None when the server answers 304 to our ETag.

        Raises:
            HTTPClientError: no attempt got a 200 or 304 answer.
            ValueError: the body is not JSON, or not a JSON object.
        """
        headers = dict(self.headers)
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        with new_session() as session:
            response, _ = self._client.send(
                session,
                "GET",
                self.url,
                accept=frozenset({200, 304}).__contains__,
                retries=self.retries,
                chilldown=self.fail_chilldown,
                timeout=self.timeout,
                headers=headers,
                params=self.params or None,
            )
        if response.status_code == 304:
            return None
        data = json.loads(response.content)
        if not isinstance(data, dict):
            raise ValueError(
                f"{type(self).__name__}: {self.url} served a JSON {type(data).__name__}, "
                "not an object"
            )
        self.etag = response.headers.get("ETag")
        return data
