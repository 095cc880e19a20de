"""Pump: the set of pipelines an application runs together (BSPump's PumpService, minus the app).

It is a plain object, never a global: an application may hold several. Routers find their target
pipelines through it by address (``"PipelineID.SourceID"``), and executors run all it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ._component import Component, Source
from ._config import Configurable
from ._errors import ConfigError
from ._pipeline import Pipeline
from .lookup._mapping import Lookup


class Pump:
    """A registry of pipelines.

    Example:
        >>> pump = Pump()
        >>> pipeline = pump.add_pipeline(Pipeline("P"))
        >>> pump.locate("P") is pipeline
        True
    """

    def __init__(self, pipelines: Iterable[Pipeline] = ()) -> None:
        self._pipelines: dict[str, Pipeline] = {}
        self._lookups: dict[str, Lookup] = {}
        self._connections: dict[str, Configurable] = {}
        for pipeline in pipelines:
            self.add_pipeline(pipeline)

    def add_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Register a pipeline; its id must be unique in this pump."""
        current = self._pipelines.get(pipeline.Id)
        if current is pipeline:
            return pipeline
        if current is not None:
            raise ConfigError(f"Pump: two pipelines with id {pipeline.Id!r}")
        if pipeline.Pump is not None and pipeline.Pump is not self:
            raise ConfigError(f"Pump: pipeline {pipeline.Id!r} already belongs to another pump")
        self._pipelines[pipeline.Id] = pipeline
        pipeline.Pump = self
        return pipeline

    def add_pipelines(self, *pipelines: Pipeline) -> None:
        """Register several pipelines."""
        for pipeline in pipelines:
            self.add_pipeline(pipeline)

    def del_pipeline(self, pipeline: Pipeline | str) -> None:
        """Unregister a pipeline (by object or id)."""
        pid = pipeline if isinstance(pipeline, str) else pipeline.Id
        removed = self._pipelines.pop(pid, None)
        if removed is not None:
            removed.Pump = None

    def add_lookup(self, lookup: Lookup) -> Lookup:
        """Register a lookup so processors can find it with ``locate_lookup``."""
        current = self._lookups.get(lookup.Id)
        if current is not None and current is not lookup:
            raise ConfigError(f"Pump: two lookups with id {lookup.Id!r}")
        self._lookups[lookup.Id] = lookup
        return lookup

    def add_lookups(self, *lookups: Lookup) -> None:
        """Register several lookups."""
        for lookup in lookups:
            self.add_lookup(lookup)

    def locate_lookup(self, lookup_id: str) -> Lookup:
        """The lookup with this id. Raises KeyError naming the known ids when absent."""
        try:
            return self._lookups[lookup_id]
        except KeyError:
            known = ", ".join(sorted(self._lookups)) or "none"
            raise KeyError(f"Pump: no lookup {lookup_id!r} (known: {known})") from None

    def add_connection(self, connection: Configurable) -> Configurable:
        """Register a connection (a client's settings, ``[connection:ID]`` in BSPump's config
        files) so that sources and sinks given its id find it with ``locate_connection``."""
        current = self._connections.get(connection.Id)
        if current is not None and current is not connection:
            raise ConfigError(f"Pump: two connections with id {connection.Id!r}")
        self._connections[connection.Id] = connection
        return connection

    def locate_connection(self, connection_id: str) -> Configurable:
        """The connection with this id. Raises KeyError naming the known ids when absent."""
        try:
            return self._connections[connection_id]
        except KeyError:
            known = ", ".join(sorted(self._connections)) or "none"
            raise KeyError(f"Pump: no connection {connection_id!r} (known: {known})") from None

    @property
    def lookups(self) -> tuple[Lookup, ...]:
        """Every registered lookup."""
        return tuple(self._lookups.values())

    def __iter__(self) -> Iterator[Pipeline]:
        return iter(list(self._pipelines.values()))

    def __len__(self) -> int:
        return len(self._pipelines)

    def locate(self, address: str) -> Pipeline | Source | Component | None:
        """Find ``"PipelineID"``, ``"PipelineID.SourceID"`` or ``"PipelineID.ProcessorID"``.

        A component id may start with ``*`` to match by suffix, as BSPump allows
        (``"TeePipeline.*TeeSource"``).
        """
        pid, _, cid = address.partition(".")
        pipeline = self._pipelines.get(pid)
        if pipeline is None or not cid:
            return pipeline
        if cid.startswith("*"):
            suffix = cid[1:]
            for source in pipeline.iter_sources():
                if source.Id.endswith(suffix):
                    return source
            for pid_, step in zip(
                pipeline.processor_ids(), pipeline.iter_processors(), strict=True
            ):
                if pid_.endswith(suffix) and isinstance(step, Component):
                    return step
            return None
        found = pipeline.locate_source(cid)
        if found is not None:
            return found
        located = pipeline.locate_processor(cid)
        return located if isinstance(located, Component) else None
