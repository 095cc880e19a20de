"""One noida-db and one osmem-server for the session; ``cluster`` runs a test on each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._cluster import Cluster, noida_server, osmem_server


@pytest.fixture(scope="session")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("noida")
    with noida_server(folder / "data", folder / "noida.log") as server:
        yield Cluster("noida", server)


@pytest.fixture(scope="session")
def osmem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("osmem")
    with osmem_server(folder / "osmem.log") as server:
        yield Cluster("osmem", server)


@pytest.fixture(params=["noida", "osmem"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """Each server in turn: Elasticsearch 8's API, then OpenSearch's."""
    found: Cluster = request.getfixturevalue(request.param)
    return found
