"""Non-blocking sockets driven by anyio's readiness waits (``wait_readable``/``wait_writable``).

Every socket of this adapter is a plain ``socket.socket`` waited on with anyio, rather than one of
anyio's socket objects, because the adapter needs what those hide or do differently:

- A server must read a connection only when it has room for what it reads: that is how TCP
  pushes back on a client. anyio's asyncio backend reads accepted connections ahead into an
  unbounded buffer (its transport starts reading on accept and is paused only by a ``receive``
  that finds that buffer empty), so a client faster than the pipeline grows the server's memory
  without bound there, while trio stops at the kernel's buffers. ``SocketByteStream`` reads only
  in ``receive``, on every backend; anyio's ``TLSStream``/``TLSListener`` work on top of it.
- ``socket.send`` returns how many bytes the kernel took, so a sink knows exactly which lines
  were handed to the operating system and resends only the rest after a reconnect. (anyio's
  asyncio ``SocketStream.send`` can even return normally for data the transport then failed to
  write: the error only shows at the next call.)
- ``recv`` without waiting tells whether the peer closed the connection before a sink writes
  into it; otherwise the first write after a server restart is accepted by the kernel and lost.
- anyio's asyncio UDP socket keeps at most 100 datagrams and silently drops the oldest; reading
  the socket ourselves leaves the queueing to the kernel's receive buffer, as trio does.

Everything here runs on the event loop (the executor's or the bridge's) and never blocks it.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import ByteStream, Listener, SocketAttribute, TaskGroup

from ._address import Address

# Pause after a failed ``accept`` (EMFILE and the like) before trying again.
ACCEPT_RETRY = 0.1


async def connect(address: Address, kind: socket.SocketKind, timeout: float) -> socket.socket:
    """A connected non-blocking socket to ``address`` (each resolved address tried in turn).

    Raises:
        OSError: no address could be connected to within ``timeout`` seconds each (the last
            error); ``socket.gaierror`` when the host does not resolve.
    """
    candidates: list[tuple[int, int, object]]
    if address.path is not None:
        candidates = [(socket.AF_UNIX, 0, address.path)]
    else:
        infos = await anyio.getaddrinfo(address.host or "localhost", address.port, type=kind)
        candidates = [(family, proto, sockaddr) for family, _, proto, _, sockaddr in infos]
    last: OSError = OSError(errno.EADDRNOTAVAIL, f"{address} resolves to no address")
    for family, proto, sockaddr in candidates:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            with anyio.fail_after(timeout):
                await _connect_one(sock, sockaddr)
        except TimeoutError:
            sock.close()
            last = OSError(errno.ETIMEDOUT, f"connecting to {address} timed out after {timeout} s")
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
        else:
            return sock
    raise last


async def _connect_one(sock: socket.socket, sockaddr: object) -> None:
    err = sock.connect_ex(sockaddr)  # type: ignore[arg-type]
    if err == errno.EINPROGRESS:  # TCP: wait for the handshake
        await anyio.wait_writable(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


async def send_some(sock: socket.socket, data: bytes | memoryview) -> int:
    """Hand ``data`` to the kernel; return how many bytes it took (at least one), waiting while
    its send buffer is full.

    Raises:
        OSError: the connection is broken (reset, refused, closed).
    """
    while True:
        try:
            return sock.send(data)
        except (BlockingIOError, InterruptedError):
            await anyio.wait_writable(sock)


def peer_closed(sock: socket.socket) -> bool:
    """True when the peer closed or reset the connection; whatever it sent is discarded (the
    sinks send only, as BSPump's do)."""
    while True:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not data:
            return True


async def bind_datagram(address: Address, receive_buffer_size: int) -> socket.socket:
    """A bound non-blocking datagram socket (UDP, or Unix datagram at a path; a stale Unix
    socket file at that path is removed first, as anyio does for stream listeners).

    Raises:
        OSError: the address could not be resolved or bound.
    """
    if address.path is not None:
        remove_socket_file(address.path)
        family, sockaddr = socket.AF_UNIX, address.path
        sock = socket.socket(family, socket.SOCK_DGRAM)
        bind_to: object = sockaddr
    else:
        infos = await anyio.getaddrinfo(
            address.host, address.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        family, _, proto, _, bind_to = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM, proto)
    try:
        sock.setblocking(False)
        if receive_buffer_size > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_size)
        sock.bind(bind_to)  # type: ignore[arg-type]
    except BaseException:
        sock.close()
        raise
    return sock


def remove_socket_file(path: str) -> None:
    """Remove ``path`` if it is a Unix socket file (never a regular file)."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


class SocketByteStream(ByteStream):
    """A connected stream socket as an anyio ``ByteStream`` that reads only when asked.

    ``receive`` raises ``EndOfStream`` when the peer closed its side and ``BrokenResourceError``
    when the connection broke; every call is a checkpoint, so a peer that floods the server
    cannot hold the event loop. The addresses are taken when the connection is accepted: asking
    the kernel later fails once the peer has gone.
    """

    def __init__(self, sock: socket.socket, peer: Any) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._peer = peer
        try:
            self._local = sock.getsockname()
        except OSError:
            self._local = ""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                data = self._sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                await anyio.wait_readable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            return data

    async def send(self, item: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        view = memoryview(item)
        try:
            while view:
                view = view[await send_some(self._sock, view) :]
        except OSError as exc:
            raise anyio.BrokenResourceError from exc

    async def send_eof(self) -> None:
        self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        self._sock.close()
        await anyio.lowlevel.checkpoint()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self._sock
        return {
            SocketAttribute.family: lambda: sock.family,
            SocketAttribute.local_address: lambda: self._local,
            SocketAttribute.remote_address: lambda: self._peer,
            SocketAttribute.raw_socket: lambda: sock,
        }


class SocketListener(Listener[SocketByteStream]):
    """A listening socket as an anyio ``Listener`` of ``SocketByteStream`` connections.

    Unlike anyio's ``Listener.serve``, a failing ``accept`` (out of file descriptors) is
    reported through ``on_error`` and retried after a pause instead of ending the loop.
    """

    def __init__(self, sock: socket.socket, on_error: Callable[[OSError], None]) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._on_error = on_error

    async def serve(
        self, handler: Callable[[SocketByteStream], Any], task_group: TaskGroup | None = None
    ) -> None:
        async with AsyncExitStack() as stack:
            if task_group is None:
                task_group = await stack.enter_async_context(anyio.create_task_group())
            while True:
                await anyio.lowlevel.checkpoint()  # a storm of connections must not hold the loop
                try:
                    client, peer = self._sock.accept()
                except (BlockingIOError, InterruptedError):
                    await anyio.wait_readable(self._sock)
                    continue
                except OSError as exc:
                    self._on_error(exc)
                    await anyio.sleep(ACCEPT_RETRY)
                    continue
                task_group.start_soon(handler, SocketByteStream(client, peer))

    async def aclose(self) -> None:
        self._sock.close()
        await anyio.lowlevel.checkpoint()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self._sock
        return {
            SocketAttribute.family: lambda: sock.family,
            SocketAttribute.local_address: sock.getsockname,
            SocketAttribute.raw_socket: lambda: sock,
        }


async def bind_stream(address: Address, backlog: int) -> list[socket.socket]:
    """Listening sockets for ``address``: one per address family the host resolves to, all on
    the same port (port 0: a free one). anyio binds them (its dual-stack and ephemeral-port
    logic, and a stale Unix socket file removed first); this adapter keeps duplicates of the
    raw sockets and closes anyio's listener objects (see the module docstring).

    Raises:
        OSError: the address could not be resolved or bound.
    """
    listener: Listener[Any]
    if address.path is not None:
        listener = await anyio.create_unix_listener(address.path, backlog=backlog)
        listeners: list[Listener[Any]] = [listener]
    else:
        multi = await anyio.create_tcp_listener(
            local_host=address.host, local_port=address.port, backlog=backlog
        )
        listener, listeners = multi, list(multi.listeners)
    try:
        return [item.extra(SocketAttribute.raw_socket).dup() for item in listeners]
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
