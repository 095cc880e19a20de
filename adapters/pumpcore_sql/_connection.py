"""SQLConnection: where and how to connect, BSPump's ``[connection:ID]`` keys.

It holds no socket: each user (a source's cycle, a sink, a lookup load) opens its own driver
connection with ``connect()`` when it needs one and a new one after a failure, so one broken
socket never outlives the operation it broke and nothing is shared between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pumpcore import ConfigRule, Configurable, current_settings
from pumpcore.config import in_range, non_empty


class SQLConnection(Configurable):
    """Connection parameters of a SQL database; a driver's subclass adds ``port``,
    ``connect_timeout`` (and its own keys) and ``connect()``.

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``. The password never appears in its repr nor in
    config errors.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "host": "localhost",
        "user": "",
        "password": "",
        "db": "",
        "reconnect_delay": 5.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "host": non_empty(),
        "port": in_range(1, 65535),
        "reconnect_delay": in_range(0, 3600),
    }

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(id=id, config=config)
        section = current_settings().section(f"connection:{self.Id}")
        if section:
            self.reconfigure(section)

    @property
    def reconnect_delay(self) -> float:
        """Seconds to wait before connecting again after a failure."""
        return float(self.Config["reconnect_delay"])

    def __repr__(self) -> str:
        config = self.Config
        where = f"{config['host']}:{config['port']}/{config['db']}"
        return f"<{type(self).__name__} {self.Id!r} @{where}>"
