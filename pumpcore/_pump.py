"""Pump: the set of pipelines an application runs together (BSPump's PumpService, minus the app).

It is a plain object, never a global: an application may hold several. Routers find their target
pipelines through it by address (``"PipelineID.SourceID"``), and executors run all it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ._component import Component, Source
from ._errors import ConfigError
from ._pipeline import Pipeline


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
