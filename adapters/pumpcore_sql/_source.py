"""SQLSource: on each trigger firing, runs a query and emits its rows as dicts.

A driver's subclass gives ``cycle``: it streams the rows from the server ``fetch_size`` at a
time and hands each fetch to the pipeline with ``Source.process_many``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pumpcore import ConfigError, ConfigRule, TriggerSource
from pumpcore.config import in_range, one_of

from ._connection import SQLConnection

if TYPE_CHECKING:
    from pumpcore import Pipeline

C = TypeVar("C", bound=SQLConnection)


class SQLSource(TriggerSource, Generic[C]):
    """Emits each row of ``query`` as a ``dict`` per firing of its trigger; the config and its
    checks (``query``, ``fetch_size``, ``on_error``) of the SQL sources."""

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "query": "",
        "fetch_size": 1000,
        "on_error": "continue",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "fetch_size": in_range(1, 2**20),
        "on_error": one_of("continue", "policy"),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        connection: C,
    ) -> None:
        self.connection = connection
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        super().apply_config()
        #: The query run on each firing.
        self.Query = str(self.Config["query"])
        self._fetch_size = int(self.Config["fetch_size"])
        self.isolate_source_failures = self.Config["on_error"] == "continue"
        if self.Pipeline is not None and not self.Query.strip():
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'query' is empty; give the query"
            )
