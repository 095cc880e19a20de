"""HTTPServerSource: a webhook. Each POST's body becomes an event; the client is answered 200
only once that event is done, so delivery is at-least-once from the client's request to the
pipeline's sink.

HTTP/1.1 is spoken with h11 over anyio streams, with keep-alive: one connection carries any
number of requests.

Rules:
1. Acknowledgement. A queued request's position is a *ticket*. The executor acknowledges it at a
   commit point, i.e. after every sink flushed what the event became, or once the event was
   dropped on purpose or dead-lettered (the executor ↔ adapter contract, rule 1). The request's
   handler waits for its ticket and answers 200 then. No ticket within ``ack_timeout``: 504, and
   the client must send again; the event may have been processed meanwhile (at-least-once:
   duplicates are possible, a silent loss is not). With ``wait_for_commit`` false the handler
   answers 202 Accepted once the event is queued: it then lives in this process's memory only
   and a crash loses it.
2. Refusals are answered at once, keeping the connection alive whenever the request was read
   whole: 404 (not ``path``), 405 (not ``method``), 413 (body over ``max_body_size``; the rest of
   the body is not read, so the connection is closed), 503 with ``Retry-After`` while the
   pipeline is not ready (throttled, stopped by an error), while the queue is full
   (``queue_max_size`` requests) or its bytes would pass ``max_buffered_bytes``, or once a
   hard failure poisoned the source (the executor then acknowledges nothing more in this run,
   so nothing could be confirmed: restart the pump), 400 (431 for huge headers: h11's hint) for
   malformed HTTP, 408 for a body that does not arrive within ``request_timeout``. A request
   head that does not arrive within ``idle_timeout`` (a slowloris) closes the connection
   unanswered; it and the 408s are counted (``timeouts``).
3. A stop cancels the handlers. One still waiting for its ticket answers on its way out,
   shielded and bounded in time: its answer when the ticket came meanwhile, 503 otherwise, so
   the client retries instead of hanging.
4. A bad or vanished client ends its own connection only; the server goes on (see
   ``_listen.py``).
5. Bad input is the client's fault, answered 4xx with a short plain-text reason, and it never
   stops the server (5xx is kept for the server's own faults: 503, 504). It is still queued
   with its ticket, so that it is counted and dead-lettered before the answer (with
   ``wait_for_commit`` false it is answered at once):
   - a body that does not ``decode`` (not in its charset, not JSON) goes in as a ``Rejected``
     and is answered **400** once done;
   - an event that fails in a processor is that request's failure (``isolate_failures``):
     counted as a warning, dead-lettered, answered **422** with the exception's class and
     message, shortened. The pipeline's failure listener (on the pipeline's thread) hands
     ``(request_id, reason)`` over through a ``deque``, and ``acknowledge`` — the one path that
     wakes waiting requests, on the server's loop — attaches it to the ticket before waking
     it: the failure always happens before its position is acknowledged. A failure in another
     pipeline the event was routed to is not seen there: that request is answered 200.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs

import anyio
import attrs
import h11
import orjson
from anyio.abc import ByteStream

from pumpcore import ConfigRule, Context, Failure, Received
from pumpcore.config import in_range, one_of, positive
from pumpcore.lowlevel import Rejected, current_origin

from ._client import HTTP_METHOD, URL_PATH
from ._listen import GONE, RECEIVE_SIZE, ServerSource, peer_of

if TYPE_CHECKING:
    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.http")

# How long a handler cancelled by a stop may take to answer its client (rule 3).
_LAST_WORDS = 1.0
# The longest reason sent with a 400 or 422 (rule 5): enough to tell what was wrong, too short
# to echo a large body back.
_REASON_SIZE = 200
# Request ids (the context's ``request_id``), unique in the process: a ticket finds the failure
# of its event by it (rule 5).
_request_ids = itertools.count(1)

Headers = Sequence[tuple[str, str]]


@attrs.frozen
class HTTPServerStatistics:
    """What an ``HTTPServerSource`` did so far.

    Attributes:
        connections: connections accepted.
        requests: request heads received.
        events: request bodies queued as events.
        errors: connections ended by an unexpected error (logged).
        statuses: how many responses were sent, by status code.
        connections_refused: connections closed at once, over ``max_connections``.
        timeouts: connections closed for a head slower than ``idle_timeout``, and 408s.
        handshake_failures: TLS handshakes that failed or timed out.
        buffered_bytes: bytes of request bodies held for the pipeline now.
        buffered_bytes_max: the most ever held (at most ``max_buffered_bytes``, or one body
            when that is smaller).
    """

    connections: int
    requests: int
    events: int
    errors: int
    statuses: Mapping[int, int]
    connections_refused: int
    timeouts: int
    handshake_failures: int
    buffered_bytes: int
    buffered_bytes_max: int


class _Ticket:
    """A request's position: set when the executor acknowledges it (rule 1), with the reason
    its event failed in the pipeline, if it did (rule 5)."""

    __slots__ = ("done", "failure", "request_id")

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        self.done = anyio.Event()
        self.failure: str | None = None


class _Refusal(Exception):
    """A request answered with an error status instead of being queued."""

    def __init__(self, status: int, text: str, headers: Headers = ()) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers


class HTTPServerSource(ServerSource):
    """A webhook: serves HTTP/1.1 and turns each request body sent to ``path`` into an event
    (``bytes``, or as ``decode`` says), answering 200 once the event is done, 400 for a body
    that does not decode and 422 for an event the pipeline failed (see the module's rules).

    The event's context holds the request: ``method``, ``path``, ``query`` (a dict of lists, as
    ``urllib.parse.parse_qs`` gives), ``headers`` (a dict, lower-case names, repeated headers
    joined with ``", "``), ``http_version``, ``peer`` (the client's ``(host, port)``) and
    ``request_id`` (an int unique in the process, for logs and dead letters).

    Each source listens on its own address (BSPump's webhooks shared the application's web
    server; pumpcore has no application object). Runs under every executor: it is written on
    anyio, and the sync and threads executors run it on their bridge's loop thread.

    Config:
        address: where to listen, ``"host port"``; port 0 picks a free one (the ``address``
            property tells which).
        queue_max_size: how many requests may wait for the pipeline; beyond, 503.
        max_buffered_bytes: how many bytes of bodies may be held; beyond, 503.
        max_connections: connections served at once; more are closed at once.
        path: the path events are posted to.
        method: the method events are sent with.
        max_body_size: the largest body accepted, in bytes; beyond, 413.
        wait_for_commit: answer 200 once the event is done (True) or 202 once queued (False).
        ack_timeout: seconds to wait for the event to be done before answering 504.
        retry_after: the ``Retry-After`` seconds sent with 503.
        idle_timeout: seconds an idle connection (or a slow request head) is kept.
        request_timeout: seconds a request body may take to arrive; beyond, 408.
        decode: what the event is: ``""`` the body as ``bytes``; ``"text"`` a ``str`` decoded
            with the ``content-type``'s charset (utf-8 by default); ``"json"`` the parsed JSON.
            A body that does not decode is answered 400 (rule 5).
        cert, key, handshake_timeout: serve HTTPS with this certificate chain and key (PEM
            files); a client has ``handshake_timeout`` seconds for the TLS handshake.

    Example:
        >>> source = HTTPServerSource(config={"address": "127.0.0.1 0", "path": "/hook"})
        >>> source.Listen, source.Path
        (('127.0.0.1', 0), '/hook')
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "queue_max_size": 1024,
        "path": "/",
        "method": "POST",
        "max_body_size": 1048576,
        "wait_for_commit": True,
        "ack_timeout": 10.0,
        "retry_after": 1,
        "idle_timeout": 30.0,
        "request_timeout": 30.0,
        "decode": "",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "path": URL_PATH,
        "method": HTTP_METHOD,
        # A body is read whole into memory: 1 GiB is already beyond any webhook.
        "max_body_size": in_range(1, 2**30),
        "ack_timeout": positive(),
        "retry_after": in_range(0, 86400),
        "request_timeout": positive(),
        "decode": one_of("", "text", "json"),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(pipeline, id, config)
        self._n_connections = self._n_requests = self._n_events = 0
        self._statuses: dict[int, int] = {}
        self._poison_logged = False
        # (request_id, reason) from the failure listener on the pipeline's thread, and what
        # acknowledge took of them on the loop, by request id (rule 5).
        self._failed: deque[tuple[int, str]] = deque()
        self._failures: dict[int, str] = {}

    def apply_config(self) -> None:
        """Check the configuration."""
        super().apply_config()
        config = self.Config
        #: The path events are posted to.
        self.Path = str(config["path"])
        #: The method events are sent with, upper case.
        self.Method = str(config["method"]).upper()
        self._max_body = int(config["max_body_size"])
        self._wait = bool(config["wait_for_commit"])
        self._ack_timeout = float(config["ack_timeout"])
        self._retry_after = int(config["retry_after"])
        self._retry = [("retry-after", str(self._retry_after))]
        self._idle_timeout = float(config["idle_timeout"])
        self._request_timeout = float(config["request_timeout"])
        self._decode = str(config["decode"])

    @property
    def url(self) -> str | None:
        """``http://host:port/path`` (``https``) once listening; None before."""
        return self.url_of("http", self.Path)

    def statistics(self) -> HTTPServerStatistics:
        """A frozen snapshot of the counters."""
        return HTTPServerStatistics(
            self._n_connections,
            self._n_requests,
            self._n_events,
            self.listener.errors,
            MappingProxyType(dict(self._statuses)),
            self.listener.slots.refused,
            self._n_timeouts,
            self.listener.handshake_failures,
            self.budget.held,
            self.budget.peak,
        )

    async def open(self) -> None:
        """Bind, and listen to the pipeline's failures (rule 5)."""
        await super().open()
        if self.Pipeline is not None:
            self.Pipeline.add_failure_listener(self._on_failure)

    async def aclose(self) -> None:
        """Unbind, and stop listening to the pipeline's failures."""
        if self.Pipeline is not None:
            self.Pipeline.remove_failure_listener(self._on_failure)
        await super().aclose()

    def _on_failure(self, failure: Failure) -> None:
        """A failure listener; runs on the pipeline's thread, so it only appends to a deque
        (thread-safe) what ``acknowledge`` attaches to the request's ticket (rule 5)."""
        request_id = failure.context.get("request_id")
        if (
            self._wait
            and type(request_id) is int
            and any(mark.source is self for mark in current_origin())
        ):
            name = type(failure.exception).__name__
            reason = f"rejected by {failure.component_id}: {name}: {failure.exception}"
            self._failed.append((request_id, reason))

    async def acknowledge(self, positions: Sequence[Any]) -> None:
        """Release the handlers waiting for these events: they answer 200, or 400/422 for bad
        input (rules 1 and 5)."""
        failed, failures = self._failed, self._failures
        while failed:
            request_id, reason = failed.popleft()
            failures.setdefault(request_id, reason)  # the first failure of a request tells
        for ticket in positions:
            if isinstance(ticket, _Ticket):
                ticket.failure = failures.pop(ticket.request_id, None)
                ticket.done.set()

    # ------------------------------------------------------------ one connection

    async def handle_connection(self, stream: ByteStream) -> None:
        """Serve requests on one connection until either side closes it."""
        self._n_connections += 1
        conn = h11.Connection(h11.SERVER)
        peer = peer_of(stream)
        while True:
            try:
                request: h11.Request | None = None
                with anyio.move_on_after(self._idle_timeout) as waiting:
                    request = await self._receive_head(conn, stream)
                if request is None:
                    self._n_timeouts += waiting.cancelled_caught
                    return
                await self._handle_request(conn, stream, request, peer)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    text = f"malformed request: {exc}\n"
                    await self._respond(conn, stream, exc.error_status_hint, text)
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # a body was left unread, or the client asked to close
            conn.start_next_cycle()

    async def _next_event(self, conn: h11.Connection, stream: ByteStream) -> h11.Event:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:  # only after a whole request, which we never read past
                raise RuntimeError("h11 paused: a request was read past its end")
            try:
                data = await stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                data = b""  # h11 reads an empty chunk as the peer's end of stream
            conn.receive_data(data)

    async def _receive_head(self, conn: h11.Connection, stream: ByteStream) -> h11.Request | None:
        event = await self._next_event(conn, stream)
        return event if isinstance(event, h11.Request) else None

    async def _read_body(self, conn: h11.Connection, stream: ByteStream) -> bytes | None:
        """The whole body; None once it grows over ``max_body_size`` (the rest left unread)."""
        parts: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event(conn, stream)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max_body:
                    return None
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")

    async def _read_held_body(self, conn: h11.Connection, stream: ByteStream) -> bytes | None:
        """``_read_body`` with its bytes taken from the budget as they arrive (they are given
        back by ``read``, or here when the body is not queued after all).

        Raises:
            _Refusal: 503, the budget has no room for the body.
        """
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                event = await self._next_event(conn, stream)
                if isinstance(event, h11.Data):
                    if size + len(event.data) > self._max_body:
                        self.budget.give_back(size)
                        return None
                    if not self.budget.try_take(len(event.data)):
                        raise _Refusal(503, "the server holds too much; retry\n", self._retry)
                    size += len(event.data)
                    parts.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return b"".join(parts)
                else:
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")
        except BaseException:
            self.budget.give_back(size)
            raise

    async def _handle_request(
        self,
        conn: h11.Connection,
        stream: ByteStream,
        request: h11.Request,
        peer: tuple[str, int],
    ) -> None:
        self._n_requests += 1
        method = request.method.decode("ascii", "replace")
        path, _, query = request.target.decode("ascii", "replace").partition("?")
        head = method == "HEAD"
        try:
            self._check_route(path, method, request.headers)
            self._check_accepting()
        except _Refusal as refusal:
            # Read a small body that is on its way, so the connection can be kept alive; a
            # client waiting for "100 Continue" sends none, and the connection is closed.
            if refusal.status != 413 and not conn.they_are_waiting_for_100_continue:
                with anyio.move_on_after(self._request_timeout):
                    await self._read_body(conn, stream)
            await self._respond(conn, stream, refusal.status, refusal.text, refusal.headers, head)
            return
        if conn.they_are_waiting_for_100_continue:
            await stream.send(
                conn.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
            )
        body: bytes | None = None
        try:
            with anyio.move_on_after(self._request_timeout) as waiting:
                body = await self._read_held_body(conn, stream)
        except _Refusal as refusal:
            await self._respond(conn, stream, refusal.status, refusal.text, refusal.headers)
            return
        if waiting.cancelled_caught:
            self._n_timeouts += 1
            await self._respond(conn, stream, 408, "the body did not arrive in time\n")
            return
        if body is None:
            text = f"body over max_body_size ({self._max_body} bytes)\n"
            await self._respond(conn, stream, 413, text)
            return
        context: Context = {
            "method": method,
            "path": path,
            "query": parse_qs(query, keep_blank_values=True),
            "headers": _headers(request.headers),
            "http_version": request.http_version.decode("ascii", "replace"),
            "peer": peer,
            "request_id": next(_request_ids),
        }
        event, bad = self._decoded(body, context["headers"])
        size = len(body)
        ticket = _Ticket(context["request_id"]) if self._wait else None
        item: Received | Rejected
        if bad is None:
            item = Received(event, position=ticket, context=context)
        else:
            item = Rejected(body, _short(bad), ticket, context)
        del body, event  # the queue holds them now: a handler that waits keeps no copy
        await self._queue_event(conn, stream, item, size, ticket, bad)

    def _decoded(self, body: bytes, headers: Mapping[str, str]) -> tuple[Any, str | None]:
        """The event a body becomes by ``decode``, or why it cannot become one (rule 5)."""
        if not self._decode:
            return body, None
        if self._decode == "json":
            try:
                return orjson.loads(body), None
            except orjson.JSONDecodeError as exc:
                return None, f"the body is not JSON: {exc}"
        charset = "utf-8"
        for param in headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"') or charset
        try:
            return body.decode(codecs.lookup(charset).name), None
        except LookupError:
            return None, f"unknown charset {charset!r}"
        except UnicodeDecodeError as exc:
            return None, f"the body is not {charset}: {exc}"

    def _check_route(self, path: str, method: str, headers: Sequence[tuple[bytes, bytes]]) -> None:
        if path != self.Path:
            raise _Refusal(404, f"no such path; events go to {self.Path}\n")
        if method != self.Method:
            raise _Refusal(405, f"events are sent with {self.Method}\n", [("allow", self.Method)])
        for name, value in headers:
            if name == b"content-length" and int(value) > self._max_body:
                raise _Refusal(413, f"body over max_body_size ({self._max_body} bytes)\n")

    def _check_accepting(self) -> None:
        if self.accepting():
            return
        retry = [("retry-after", str(self._retry_after))]
        if self.poisoned:
            if not self._poison_logged:
                self._poison_logged = True
                log.error(
                    "%s: a hard failure stopped acknowledgements; answering 503 until restarted",
                    self.locate_address(),
                )
            raise _Refusal(503, "a failure stopped acknowledgements; restart needed\n", retry)
        raise _Refusal(503, "the pipeline is not taking events now\n", retry)

    async def _queue_event(
        self,
        conn: h11.Connection,
        stream: ByteStream,
        item: Received | Rejected,
        size: int,
        ticket: _Ticket | None,
        bad: str | None,
    ) -> None:
        try:
            self.put_nowait(item, size)
        except anyio.WouldBlock:
            self.budget.give_back(size)
            await self._respond(conn, stream, 503, "the queue is full\n", self._retry)
            return
        del item
        if bad is None:
            self._n_events += 1
        if ticket is None:
            status, text = (202, "queued") if bad is None else (400, _short(bad))
            await self._respond(conn, stream, status, f"{text}\n")
            return
        try:
            with anyio.move_on_after(self._ack_timeout):
                await ticket.done.wait()
        except anyio.get_cancelled_exc_class():
            with anyio.move_on_after(_LAST_WORDS, shield=True), contextlib.suppress(*GONE):
                if ticket.done.is_set():
                    await self._respond(conn, stream, *_outcome(ticket, bad))
                else:
                    await self._respond(conn, stream, 503, "the server is stopping; retry\n")
            raise
        # Shielded: a stop may cancel the server right after the commit that set the ticket,
        # and the client must still hear that its event is safe.
        with anyio.move_on_after(_LAST_WORDS, shield=True):
            if ticket.done.is_set():
                await self._respond(conn, stream, *_outcome(ticket, bad))
            else:
                await self._respond(conn, stream, 504, "not confirmed in time; send it again\n")

    async def _respond(
        self,
        conn: h11.Connection,
        stream: ByteStream,
        status: int,
        text: str,
        headers: Headers = (),
        head: bool = False,
    ) -> None:
        """Send a whole plain-text response; ``connection: close`` when the request was not
        read whole (the connection cannot be reused then)."""
        body = text.encode("utf-8")
        fields = [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            *headers,
        ]
        if conn.their_state is not h11.DONE:
            fields.append(("connection", "close"))
        reason = HTTPStatus(status).phrase.encode("ascii")
        data = conn.send(h11.Response(status_code=status, headers=fields, reason=reason))
        if body and not head:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        self._statuses[status] = self._statuses.get(status, 0) + 1
        await stream.send(data)


def _outcome(ticket: _Ticket, bad: str | None) -> tuple[int, str]:
    """The answer to a request whose ticket came (rules 1 and 5): 400 for a body that did not
    decode, 422 for an event the pipeline failed, 200 otherwise."""
    if bad is not None:
        return 400, f"{_short(bad)}\n"
    if ticket.failure is not None:
        return 422, f"{_short(ticket.failure)}\n"
    return 200, "done\n"


def _short(reason: str) -> str:
    """``reason`` on one line, at most ``_REASON_SIZE`` characters (rule 5)."""
    line = " ".join(reason.split())
    return line if len(line) <= _REASON_SIZE else line[: _REASON_SIZE - 1] + "…"


def _headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as a dict: lower-case names, repeated ones joined with ", "."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined
