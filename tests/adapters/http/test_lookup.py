"""HTTPLookupProvider against a real HTTP server: ETags, 304, bad answers."""

from __future__ import annotations

import json

import pytest
from pumpcore_http import HTTPClientError, HTTPLookupProvider

from pumpcore.lookup import MappingLookup

from ._server import Recorded, Reply, ScriptedHTTPServer


class Table:
    """A served table with an ETag per version; answers 304 to the current ETag."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.version = 1

    def update(self, data: dict[str, str]) -> None:
        self.data = data
        self.version += 1

    def __call__(self, request: Recorded) -> Reply:
        etag = f'"v{self.version}"'
        if request.headers.get("If-None-Match") == etag:
            return Reply(304, headers={"ETag": etag})
        return Reply(200, json.dumps(self.data).encode(), {"ETag": etag})


@pytest.mark.timeout(30)
def test_the_table_is_loaded_then_304_means_unchanged(server: ScriptedHTTPServer) -> None:
    table = Table({"cz": "Czechia"})
    server.routes["/countries"] = table
    provider = HTTPLookupProvider(server.url("/countries"), timeout=5)
    lookup = MappingLookup("Countries", provider=provider)
    assert lookup.load() is True
    assert dict(lookup) == {"cz": "Czechia"}
    assert provider.etag == '"v1"'
    assert lookup.load() is False
    assert server.requests_to("/countries")[1].headers["If-None-Match"] == '"v1"'
    table.update({"cz": "Czechia", "sk": "Slovakia"})
    assert lookup.load() is True
    assert lookup["sk"] == "Slovakia"
    assert lookup.version == 2


@pytest.mark.timeout(30)
def test_without_an_etag_every_load_fetches(server: ScriptedHTTPServer) -> None:
    url = server.script("/plain", Reply(200, b'{"a": "1"}'))
    provider = HTTPLookupProvider(url, headers={"X-Key": "k"}, params={"v": "2"})
    assert provider.load() == {"a": "1"}
    assert provider.load() == {"a": "1"}
    first, second = server.requests_to("/plain")
    assert "If-None-Match" not in second.headers
    assert first.headers["X-Key"] == "k"
    assert first.query == {"v": ["2"]}


@pytest.mark.timeout(30)
def test_server_errors_are_retried_and_bad_answers_raise(server: ScriptedHTTPServer) -> None:
    flaky = server.script("/flaky", Reply(503), Reply(200, b'{"ok": "yes"}'))
    assert HTTPLookupProvider(flaky, fail_chilldown=0.01).load() == {"ok": "yes"}
    with pytest.raises(HTTPClientError, match="404"):
        HTTPLookupProvider(server.url("/nowhere")).load()
    listed = server.script("/list", Reply(200, b"[1, 2]"))
    with pytest.raises(ValueError, match="not an object"):
        HTTPLookupProvider(listed).load()
    broken = server.script("/broken", Reply(200, b"{oops"))
    provider = HTTPLookupProvider(broken)
    with pytest.raises(ValueError, match="Expecting property name"):
        provider.load()
    assert provider.etag is None
