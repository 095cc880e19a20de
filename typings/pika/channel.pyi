from collections.abc import Callable
from typing import Any

from pika.frame import Method
from pika.spec import BasicProperties

class Channel:
    @property
    def is_open(self) -> bool: ...
    def add_on_close_callback(self, callback: Callable[[Channel, BaseException], None]) -> None: ...
    def add_on_return_callback(
        self, callback: Callable[[Channel, Any, BasicProperties, bytes], None]
    ) -> None: ...
    def confirm_delivery(
        self,
        ack_nack_callback: Callable[[Method], None],
        callback: Callable[[Method], None] | None = None,
    ) -> None: ...
    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes | str,
        properties: BasicProperties | None = None,
        mandatory: bool = False,
    ) -> None: ...
