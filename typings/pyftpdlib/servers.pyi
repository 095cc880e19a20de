from typing import Any

from .handlers import FTPHandler
from .ioloop import IOLoop

class FTPServer:
    max_cons: int
    max_cons_per_ip: int
    ioloop: IOLoop
    def __init__(
        self,
        address_or_socket: tuple[str, int] | Any,
        handler: type[FTPHandler],
        ioloop: IOLoop | None = ...,
        backlog: int = ...,
    ) -> None: ...
    @property
    def address(self) -> tuple[str, int]: ...
    def serve_forever(
        self,
        timeout: float | None = ...,
        blocking: bool = ...,
        handle_exit: bool = ...,
        worker_processes: int = ...,
    ) -> float | None: ...
    def close_all(self) -> None: ...
    def __enter__(self) -> FTPServer: ...
    def __exit__(self, *args: object) -> None: ...
