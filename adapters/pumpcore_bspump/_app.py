"""``BSPumpApplication``: BSPump's application object, running on a pumpcore executor.

Rules:
1. The command line is BSPump's: ``-c CONFIG`` (repeatable, later files win), ``-w HOST:PORT``
   for the web API (or ``web_listen=`` in the constructor), plus ``--executor`` (default
   asyncio, BSPump's loop) and ``--stop-after SECONDS``. A config file that cannot be read ends
   the program at once with a message naming it: never ignored.
2. ``run()`` awaits every service's ``initialize`` (in creation order; the blank app registers
   its pipelines there), warns about config sections naming no pipeline or component, refuses
   an executor other than asyncio when a source is an asyncio coroutine (naming the sources),
   then runs every registered pipeline until SIGINT/SIGTERM (or ``--stop-after``), then awaits
   each ``finalize``. It returns 0; otherwise it exits (``SystemExit``) with 1 when a pipeline
   stopped by an error, 2 when the pump could not start, so a script's exit code tells.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pumpcore_executors
from pumpcore_executors import EXECUTORS

from pumpcore import ConfigError, Settings, check_settings
from pumpcore.trigger import PubSub

from ._service import PumpService
from ._sources import asyncio_only
from .asab import Module, Service


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="A BSPump application on pumpcore.")
    parser.add_argument(
        "-c", "--config", type=Path, action="append", default=[],
        help="an INI config file ([pipeline:ID], [pipeline:ID:ComponentID], [connection:ID]…); "
        "repeatable",
    )  # fmt: skip
    parser.add_argument(
        "-w", "--web-api", dest="web_listen", default=None, metavar="HOST:PORT",
        help="serve the web API (/bspump/v1/pipelines, /metrics, /health) here",
    )  # fmt: skip
    parser.add_argument("--executor", choices=EXECUTORS, default="asyncio")
    parser.add_argument("--stop-after", type=float, default=None, metavar="SECONDS")
    return parser


def read_settings(paths: Sequence[Path]) -> Settings:
    """Read INI config files in order, later ones overriding earlier ones.

    Raises:
        ConfigError: a file cannot be read or parsed, naming it.
    """
    settings = Settings()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
        try:
            settings = settings.merged(Settings.from_ini(text))
        except ConfigError as exc:
            raise ConfigError(f"config file {str(path)!r}: {exc}") from exc
    return settings


class BSPumpApplication:
    """BSPump's application: services, the ``bspump.PumpService``, config files, ``run()``.

    Args:
        args: the command line (default ``sys.argv[1:]``), rule 1.
        web_listen: where to serve the web API, as BSPump's ``web_listen="0.0.0.0:8080"``.
    """

    def __init__(self, args: Sequence[str] | None = None, web_listen: str | None = None) -> None:
        prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "bspump"
        self.Args = _parser(prog).parse_args(sys.argv[1:] if args is None else list(args))
        try:
            self.Settings = read_settings(self.Args.config)
        except ConfigError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        self.WebListen: str | None = self.Args.web_listen or web_listen
        self.Services: dict[str, Service] = {}
        self.Modules: list[Module] = []
        self.PubSub = PubSub()
        self.PumpService = PumpService(self)
        self.ExitCode = 0

    @property
    def WebContainer(self) -> Any:
        """BSPump's ASAB web container (aiohttp) is not there: say what to do instead."""
        raise AttributeError(
            "BSPumpApplication has no WebContainer (ASAB's aiohttp server): a WebSocketSource "
            "listens by itself (config={'address': 'HOST:PORT', 'path': '/bspump/ws'}), and -w "
            "serves the web API; see docs/migrating-from-bspump.md"
        )

    def register_service(self, service: Service) -> None:
        """Called by ``Service.__init__``; a second service under one name is an error."""
        if service.Name in self.Services:
            raise ConfigError(f"BSPumpApplication: two services named {service.Name!r}")
        self.Services[service.Name] = service

    def get_service(self, name: str) -> Any:
        """The service registered under ``name`` (``"bspump.PumpService"``…).

        Raises:
            KeyError: no such service, naming those there are.
        """
        try:
            return self.Services[name]
        except KeyError:
            known = ", ".join(sorted(self.Services))
            raise KeyError(f"BSPumpApplication: no service {name!r} (known: {known})") from None

    def add_module(self, module_class: type[Module]) -> Module:
        """Instantiate ``module_class`` with this application (it creates its services)."""
        module = module_class(self)
        self.Modules.append(module)
        return module

    def run(self, out: TextIO | None = None) -> int:
        """Initialize the services, run every pipeline until stopped, finalize (rule 2)."""
        err = out if out is not None else sys.stderr
        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
            )
        asyncio.run(self._each_service("initialize"))
        pump = self.PumpService.Pump
        pipelines = list(pump)
        if not pipelines:
            print("BSPumpApplication: no pipeline registered (svc.add_pipeline)", file=err)
            raise SystemExit(2)
        check_settings(self.Settings, pipelines)
        executor = self.Args.executor
        needs_asyncio = asyncio_only(pipelines) if executor != "asyncio" else []
        if needs_asyncio:
            print(
                f"BSPumpApplication: {', '.join(needs_asyncio)} run(s) `async def` code written "
                f"for asyncio (BSPump's loop); use --executor asyncio, not {executor!r}",
                file=err,
            )
            raise SystemExit(2)
        print(f"{len(pipelines)} pipeline(s) ready (executor {executor}).", file=err, flush=True)
        web = None
        if self.WebListen:
            from ._web_api import WebAPIServer

            web = WebAPIServer(self.PumpService, self.WebListen)
            web.start()
            print(f"Web API on {web.url}", file=err, flush=True)
        try:
            report = pumpcore_executors.run(
                pump, executor=executor, stop_after=self.Args.stop_after, until_stopped=True
            )
        finally:
            if web is not None:
                web.stop()
            asyncio.run(self._each_service("finalize"))
        for pid, error in report.errors.items():
            print(f"{pid} stopped by an error: {error}", file=err)
        self.ExitCode = 1 if report.errors else 0
        if self.ExitCode:
            raise SystemExit(self.ExitCode)
        return 0

    async def _each_service(self, method: str) -> None:
        for service in list(self.Services.values()):
            await getattr(service, method)(self)
