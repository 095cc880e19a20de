"""BSPump's ``bspump.web``: the web API (pipelines, lookups, Prometheus ``/metrics``, health),
served by ``BSPumpApplication`` with ``-w`` or mounted in a host application via
``WebAPI(svc).handle(method, path)``."""

from ._monitor import Monitor as Monitor
from ._web_api import Response as Response
from ._web_api import WebAPI as WebAPI
from ._web_api import WebAPIServer as WebAPIServer

__all__ = ("Monitor", "Response", "WebAPI", "WebAPIServer")
