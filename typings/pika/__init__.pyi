# Minimal stubs for pika 1.3+: what pumpcore_amqp and its tests use.
from pika.adapters.blocking_connection import BlockingConnection as BlockingConnection
from pika.spec import BasicProperties as BasicProperties

class URLParameters:
    heartbeat: int | None
    blocked_connection_timeout: float | None
    socket_timeout: float | None
    stack_timeout: float | None
    connection_attempts: int
    virtual_host: str
    def __init__(self, url: str) -> None: ...
