"""BSPump's lookups over a connection: ``XLookup(app, connection, id=None, config=None,
lazy=False)``, a ``pumpcore.lookup.MappingLookup`` whose table an adapter's provider loads.

Rules:
1. The connection is located by id in the application's PumpService (``locate_connection``).
2. The config is ``[lookup:ID]`` of the application's config files, then ``config=``, read at
   construction (a lookup configured by its section alone is valid from the start).
3. ``provider()`` makes the provider from the config; it is made again when the config changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pumpcore import Settings, use_settings
from pumpcore.lookup import MappingLookup

from ._adapt import check_arguments, locate_connection


class ConnectionLookup(MappingLookup):
    """The base of BSPump's ``MySQLLookup``, ``ElasticSearchLookup``…: override ``provider``."""

    ConnectionClass: ClassVar[type]

    def __init__(
        self,
        app: object = None,
        connection: Any = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        lazy: bool = False,
    ) -> None:
        owner = type(self).__name__
        check_arguments(owner, app, None, id, config)
        self.App = app
        self.Connection = locate_connection(owner, app, connection, self.ConnectionClass)
        settings = getattr(app, "Settings", None)
        if not isinstance(settings, Settings):
            settings = Settings()
        merged = {**settings.section(f"lookup:{id or owner}"), **(config or {})}
        with use_settings(settings):
            super().__init__(id, merged, lazy=lazy)

    def apply_config(self) -> None:
        """The lookup's own keys, then the provider from the config (rule 3)."""
        super().apply_config()
        self.provider = self.make_provider()

    def make_provider(self) -> Any:
        """The adapter's provider for this config."""
        raise NotImplementedError
