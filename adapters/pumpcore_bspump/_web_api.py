"""The web API: ``WebAPI`` answers requests from a ``Monitor``; ``WebAPIServer`` serves it.

Routes (GET only):
- ``/bspump/v1/pipelines``: each pipeline's readiness, throttles, counters, timings, sources
  (lag, commit position) and recent errors, as JSON.
- ``/bspump/v1/pipelines/ID``: one of them; 404 naming the known ids otherwise.
- ``/bspump/v1/lookups``: each lookup's load counters.
- ``/metrics``: Prometheus' text format.
- ``/health``: 200 ``{"status": "ok"}``, or 503 naming the pipelines a hard error stopped.

``WebAPI.handle`` does no I/O, so a host application mounts it in its own server;
``WebAPIServer`` is a small HTTP/1.1 server (h11 on anyio) in a thread of its own, so it serves
under every executor, one request per connection.
"""

from __future__ import annotations

from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any

import anyio
import anyio.from_thread
import attrs
import h11
import orjson
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.stapled import MultiListener

from pumpcore import ConfigError, Pump

from ._monitor import Monitor

_JSON = "application/json"
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
# Bounds on one request: its size, and how long a client may take.
_MAX_REQUEST = 65536
_TIMEOUT = 10.0


@attrs.frozen
class Response:
    """What ``WebAPI.handle`` answers."""

    status: int
    content_type: str
    body: bytes


def _json(status: int, value: Any) -> Response:
    return Response(status, _JSON, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


class WebAPI:
    """The routes above over one pump (a ``pumpcore.Pump`` or a ``PumpService``)."""

    def __init__(self, pump: Any) -> None:
        self.Monitor = Monitor(pump if isinstance(pump, Pump) else pump.Pump)

    def handle(self, method: str, target: str) -> Response:
        """Answer ``method target`` (the query string is ignored)."""
        path = target.split("?", 1)[0].rstrip("/") or "/"
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"method {method} not allowed; use GET"})
        monitor = self.Monitor
        if path == "/metrics":
            return Response(200, _PROMETHEUS, monitor.metrics().encode())
        if path == "/health":
            healthy, body = monitor.health()
            return _json(200 if healthy else 503, body)
        if path == "/bspump/v1/pipelines":
            return _json(200, monitor.pipelines())
        if path.startswith("/bspump/v1/pipelines/"):
            pid = path.removeprefix("/bspump/v1/pipelines/")
            found = {p.Id: p for p in monitor.Pump}
            if pid not in found:
                return _json(404, {"error": f"no pipeline {pid!r}", "pipelines": sorted(found)})
            return _json(200, monitor.pipeline(found[pid]))
        if path == "/bspump/v1/lookups":
            return _json(200, monitor.lookups())
        return _json(404, {"error": f"no route {path!r}"})


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` or ``"host port"`` (BSPump's ``web_listen`` forms).

    Raises:
        ConfigError: naming the value when it is neither.
    """
    host, sep, port = listen.strip().rpartition(":" if ":" in listen else " ")
    if not sep or not port.strip().isdigit() or int(port) > 65535:
        raise ConfigError(f"web API: listen must be 'host:port', got {listen!r}")
    return host.strip() or "0.0.0.0", int(port)


class WebAPIServer:
    """Serves a ``WebAPI`` on ``listen`` from a thread with its own event loop."""

    def __init__(self, pump: Any, listen: str) -> None:
        self.API = pump if isinstance(pump, WebAPI) else WebAPI(pump)
        self.Listen = parse_listen(listen)
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._listener: MultiListener[SocketStream] | None = None
        self._serving: Future[None] | None = None
        self.address: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` once started."""
        if self.address is None:
            raise RuntimeError("WebAPIServer: not started")
        return f"http://{self.address[0]}:{self.address[1]}"

    def start(self) -> None:
        """Bind and serve in the background.

        Raises:
            OSError: the address cannot be bound, naming it.
        """
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        portal = self._portal = self._portal_cm.__enter__()
        host, port = self.Listen
        try:
            self._listener = portal.call(self._bind, host, port)
        except OSError:
            self.stop()
            raise
        local = self._listener.extra(SocketAttribute.local_address)
        assert isinstance(local, tuple)
        self.address = (str(local[0]), int(local[1]))
        self._serving = portal.start_task_soon(self._listener.serve, self._connection)

    @staticmethod
    async def _bind(host: str, port: int) -> MultiListener[SocketStream]:
        try:
            return await anyio.create_tcp_listener(local_host=host, local_port=port)
        except OSError as exc:
            raise OSError(exc.errno, f"web API: cannot listen on {host}:{port}: {exc}") from exc

    def stop(self) -> None:
        """Stop serving and close the listener; safe to call twice."""
        if self._serving is not None:
            self._serving.cancel()
            self._serving = None
        if self._portal is not None and self._listener is not None:
            self._portal.call(self._listener.aclose)
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None
        self._portal = self._listener = None

    async def _connection(self, stream: SocketStream) -> None:
        async with stream:
            with anyio.move_on_after(_TIMEOUT):
                await self._answer(stream)

    async def _answer(self, stream: SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST)
        request: h11.Request | None = None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                await self._send(stream, conn, Response(400, _JSON, b'{"error":"bad request"}'))
                return
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                response = self.API.handle(request.method.decode(), request.target.decode())
                if request.method == b"HEAD":
                    response = attrs.evolve(response, body=b"")
                await self._send(stream, conn, response)
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    @staticmethod
    async def _send(stream: SocketStream, conn: h11.Connection, response: Response) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Connection", "close"),
        ]
        try:
            out = conn.send(h11.Response(status_code=response.status, headers=headers))
            out += conn.send(h11.Data(data=response.body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        try:
            await stream.send(out or b"")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


__all__ = ("Response", "WebAPI", "WebAPIServer", "parse_listen")
