"""What the SQL adapters (``pumpcore_postgres``, ``pumpcore_mysql``) share, on DB-API 2 alone:
a connection's parameters (BSPump's ``[connection:ID]`` keys, the password never shown), the
trigger source streaming a query, the sink's buffer, row isolation and reconnect loop, the
lookup provider and the key fetcher. Each adapter adds only its driver: how to connect, its
cursors, its SQL dialect and its error classes. It has no public API of its own and imports no
third-party package.
"""

__all__: tuple[str, ...] = ()
