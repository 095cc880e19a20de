from collections.abc import Callable, Iterator
from typing import Any

from pika import URLParameters
from pika.spec import Basic, BasicProperties, Queue

class BlockingConnection:
    def __init__(self, parameters: URLParameters | None = None) -> None: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def is_closed(self) -> bool: ...
    def channel(self, channel_number: int | None = None) -> BlockingChannel: ...
    def process_data_events(self, time_limit: float | None = 0) -> None: ...
    def add_callback_threadsafe(self, callback: Callable[[], None]) -> None: ...
    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None: ...

class _Method:
    method: Queue.DeclareOk

class BlockingChannel:
    @property
    def is_open(self) -> bool: ...
    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, global_qos: bool = False
    ) -> None: ...
    def basic_consume(
        self,
        queue: str,
        on_message_callback: Callable[
            [BlockingChannel, Basic.Deliver, BasicProperties, bytes], None
        ],
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> str: ...
    def basic_cancel(self, consumer_tag: str) -> list[Any]: ...
    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None: ...
    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None: ...
    def basic_get(
        self, queue: str, auto_ack: bool = False
    ) -> tuple[Basic.GetOk, BasicProperties, bytes] | tuple[None, None, None]: ...
    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes | str,
        properties: BasicProperties | None = None,
        mandatory: bool = False,
    ) -> None: ...
    def confirm_delivery(self) -> None: ...
    def consume(
        self, queue: str, auto_ack: bool = False, inactivity_timeout: float | None = None
    ) -> Iterator[tuple[Basic.Deliver, BasicProperties, bytes] | tuple[None, None, None]]: ...
    def cancel(self) -> int: ...
    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> _Method: ...
    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False) -> Any: ...
    def queue_purge(self, queue: str) -> Any: ...
    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Any: ...
    def exchange_declare(
        self,
        exchange: str,
        exchange_type: str = "direct",
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> Any: ...
    def exchange_delete(self, exchange: str | None = None, if_unused: bool = False) -> Any: ...
    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None: ...
