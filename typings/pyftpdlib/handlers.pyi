from typing import ClassVar

from .authorizers import DummyAuthorizer

class FTPHandler:
    authorizer: ClassVar[DummyAuthorizer]
    banner: ClassVar[str]
    timeout: ClassVar[float]
    passive_ports: ClassVar[list[int] | None]
    permit_foreign_addresses: ClassVar[bool]
    proto_cmds: ClassVar[dict[str, dict[str, object]]]
