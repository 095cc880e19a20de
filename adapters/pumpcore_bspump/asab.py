"""The part of ASAB the seed's blank-app layout uses: ``Service`` and ``Module``.

BSPump applications are ASAB applications: a module creates services, a service registers its
pipelines in ``async def initialize(self, app)``. Port such a file by changing ``import asab``
to ``from pumpcore_bspump import asab``.
"""

from __future__ import annotations

from typing import Any


class Service:
    """A named service registered in the application (``app.get_service(name)`` finds it).

    ``initialize`` runs once before the pipelines start, ``finalize`` once after they stopped;
    both are coroutines, as in ASAB, awaited in the order the services were created.
    """

    def __init__(self, app: Any, service_name: str) -> None:
        self.App = app
        self.Name = service_name
        app.register_service(self)

    async def initialize(self, app: Any) -> None:
        """Create and register pipelines, connections and lookups here."""

    async def finalize(self, app: Any) -> None:
        """Release what ``initialize`` took."""


class Module:
    """A group of services; ``app.add_module(ModuleClass)`` instantiates it with the app."""

    def __init__(self, app: Any) -> None:
        self.App = app
