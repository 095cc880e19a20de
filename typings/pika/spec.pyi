from typing import Any

class Basic:
    class Ack:
        delivery_tag: int
        multiple: bool

    class Nack:
        delivery_tag: int
        multiple: bool
        requeue: bool

    class Deliver:
        consumer_tag: str
        delivery_tag: int
        redelivered: bool
        exchange: str
        routing_key: str

    class GetOk:
        delivery_tag: int
        redelivered: bool
        exchange: str
        routing_key: str
        message_count: int

class BasicProperties:
    content_type: str | None
    delivery_mode: int | None
    headers: dict[str, Any] | None
    message_id: str | None
    def __init__(
        self,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        delivery_mode: int | None = None,
        priority: int | None = None,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        expiration: str | None = None,
        message_id: str | None = None,
    ) -> None: ...

class Queue:
    class DeclareOk:
        queue: str
        message_count: int
        consumer_count: int
