"""``bspump.PumpService``: the registry of pipelines, connections, lookups and matrices.

Pipelines and lookups live in a ``pumpcore.Pump`` (``PumpService.Pump``), which executors run
and routers search. Connections and matrices are kept here, by id, for the components that
``locate_connection``/``locate_matrix`` them (BSPump's ``"ESConnection"`` argument); connections
are registered on the ``Pump`` too, where pumpcore's components given an id look.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pumpcore import Component, ConfigError, Configurable, Pipeline, Pump, Source
from pumpcore.lookup import Lookup

from .asab import Service

if TYPE_CHECKING:
    from ._app import BSPumpApplication


def _id_of(kind: str, obj: object) -> str:
    oid = getattr(obj, "Id", None)
    if not isinstance(oid, str):
        raise ConfigError(f"PumpService: a {kind} needs a str `Id`, got {obj!r}")
    return oid


class PumpService(Service):
    """Found as ``app.get_service("bspump.PumpService")``, as in BSPump."""

    def __init__(self, app: BSPumpApplication, service_name: str = "bspump.PumpService") -> None:
        super().__init__(app, service_name)
        self.Pump = Pump()
        self.Connections: dict[str, Any] = {}
        self.Matrices: dict[str, Any] = {}

    @property
    def Pipelines(self) -> dict[str, Pipeline]:
        """Every registered pipeline by id (BSPump's attribute)."""
        return {p.Id: p for p in self.Pump}

    @property
    def Lookups(self) -> dict[str, Lookup]:
        """Every registered lookup by id (BSPump's attribute)."""
        return {lookup.Id: lookup for lookup in self.Pump.lookups}

    def add_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Register a pipeline; its id must be unique."""
        if not isinstance(pipeline, Pipeline):
            raise ConfigError(f"PumpService.add_pipeline: {pipeline!r} is not a Pipeline")
        return self.Pump.add_pipeline(pipeline)

    def add_pipelines(self, *pipelines: Pipeline) -> None:
        """Register several pipelines."""
        for pipeline in pipelines:
            self.add_pipeline(pipeline)

    def del_pipeline(self, pipeline: Pipeline | str) -> None:
        """Unregister a pipeline, by object or id."""
        self.Pump.del_pipeline(pipeline)

    def add_connection(self, connection: Any) -> Any:
        """Register a connection under its ``Id``; two with one id is an error."""
        cid = _id_of("connection", connection)
        current = self.Connections.get(cid)
        if current is not None and current is not connection:
            raise ConfigError(f"PumpService: two connections with id {cid!r}")
        self.Connections[cid] = connection
        if isinstance(connection, Configurable):
            # pumpcore's own components given a connection id find it on the pump
            self.Pump.add_connection(connection)
        return connection

    def add_connections(self, *connections: Any) -> None:
        """Register several connections."""
        for connection in connections:
            self.add_connection(connection)

    def locate_connection(self, connection_id: Any) -> Any:
        """The connection with this id (a connection object is returned as it is).

        Raises:
            KeyError: no such connection, naming the known ids.
        """
        if not isinstance(connection_id, str):
            return connection_id
        try:
            return self.Connections[connection_id]
        except KeyError:
            known = ", ".join(sorted(self.Connections)) or "none"
            raise KeyError(
                f"PumpService: no connection {connection_id!r} (known: {known}); "
                "register it with svc.add_connection(...) before building the pipeline"
            ) from None

    def add_lookup(self, lookup: Lookup) -> Lookup:
        """Register a lookup so processors can ``locate_lookup`` it."""
        return self.Pump.add_lookup(lookup)

    def add_lookups(self, *lookups: Lookup) -> None:
        """Register several lookups."""
        self.Pump.add_lookups(*lookups)

    def locate_lookup(self, lookup_id: str) -> Lookup:
        """The lookup with this id; KeyError naming the known ids when absent."""
        return self.Pump.locate_lookup(lookup_id)

    def add_matrix(self, matrix: Any) -> Any:
        """Register a matrix under its ``Id``; two with one id is an error."""
        mid = _id_of("matrix", matrix)
        current = self.Matrices.get(mid)
        if current is not None and current is not matrix:
            raise ConfigError(f"PumpService: two matrices with id {mid!r}")
        self.Matrices[mid] = matrix
        return matrix

    def add_matrixes(self, *matrixes: Any) -> None:
        """Register several matrices (BSPump's name)."""
        for matrix in matrixes:
            self.add_matrix(matrix)

    def locate_matrix(self, matrix_id: str) -> Any:
        """The matrix with this id; KeyError naming the known ids when absent."""
        try:
            return self.Matrices[matrix_id]
        except KeyError:
            known = ", ".join(sorted(self.Matrices)) or "none"
            raise KeyError(f"PumpService: no matrix {matrix_id!r} (known: {known})") from None

    def locate(self, address: str) -> Pipeline | Source | Component | None:
        """``"PipelineID"``, ``"PipelineID.ComponentID"`` (``*`` matches a suffix), as BSPump."""
        return self.Pump.locate(address)

    async def initialize(self, app: Any) -> None:
        """BSPump starts its pipelines here; the application's ``run`` does, so nothing to do."""
