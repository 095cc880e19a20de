"""RedisLookupProvider against the real server: a hash, a key pattern, changes seen."""

from __future__ import annotations

import pytest
from pumpcore_redis import RedisLookupProvider

from pumpcore.lookup import MappingLookup

from .conftest import Keys

pytestmark = pytest.mark.timeout(30)


def test_a_hash_is_loaded_and_changes_are_seen(keys: Keys) -> None:
    keys.client.hset(keys("h"), mapping={"cz": "Czechia", "sk": "Slovakia"})
    lookup = MappingLookup("C", provider=RedisLookupProvider(keys.connection(), key=keys("h")))
    assert lookup.load() is True
    assert dict(lookup) == {"cz": "Czechia", "sk": "Slovakia"}
    assert lookup.load() is False
    keys.client.hset(keys("h"), "cz", "Česko")
    assert lookup.load() is True
    assert lookup["cz"] == "Česko"


def test_keys_matching_a_pattern(keys: Keys) -> None:
    for i in range(2500):
        keys.client.set(keys(f"user:{i}"), f"name{i}")
    keys.client.set(keys("other"), "x")
    provider = RedisLookupProvider(keys.connection(), pattern=keys("user:*"), prefix=keys("user:"))
    data = provider.load()
    assert data is not None
    assert len(data) == 2500
    assert data["42"] == "name42"
    keys.client.delete(keys("user:42"))
    changed = provider.load()
    assert changed is not None
    assert "42" not in changed


def test_the_server_gone_fails_the_load(keys: Keys) -> None:
    from ...servers import free_port

    lookup = MappingLookup(
        "Gone", provider=RedisLookupProvider(keys.connection(("127.0.0.1", free_port())), key="h")
    )
    with pytest.raises(Exception, match=r"[Cc]onnect"):
        lookup.load()
    assert lookup.statistics().failed == 1
