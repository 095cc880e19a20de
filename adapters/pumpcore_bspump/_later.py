"""BSPump modules whose pumpcore adapters are not part of this installation yet.

Each is a thin ``pumpcore_bspump/<name>.py`` to add once its adapter lands (``adapt`` lines
over the adapter's classes, as ``http.py`` does); until then ``bspump.<name>`` raises an
ImportError naming what is missing, and the name is removed from ``LATER`` when its file comes.
"""

from __future__ import annotations

import importlib.util

# BSPump's module name: (the pumpcore package it will wrap, the extra that installs it).
LATER: dict[str, tuple[str, str]] = {
    "amqp": ("pumpcore_amqp", "amqp"),
    "elasticsearch": ("pumpcore_elasticsearch", "elasticsearch"),
    "influxdb": ("pumpcore_influxdb", "influxdb"),
    "kafka": ("pumpcore_kafka", "kafka"),
    "mqtt": ("pumpcore_mqtt", "mqtt"),
    "mysql": ("pumpcore_mysql", "mysql"),
    "nats": ("pumpcore_nats", "nats"),
    "postgresql": ("pumpcore_postgres", "postgres"),
    "redis": ("pumpcore_redis", "redis"),
}


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # a dotted name whose parent is missing
        return False


def missing(name: str) -> ImportError:
    """The error for ``bspump.<name>``, one of ``LATER``: the package is not installed, or its
    BSPump signatures are still to be written."""
    package, extra = LATER[name]
    if not _installed(package):
        return ImportError(
            f"bspump.{name} needs pumpcore's adapter package {package!r}, which is not "
            f"installed (pip install 'pumpcore[{extra}]' once it is released)",
            name=f"pumpcore_bspump.{name}",
        )
    return ImportError(
        f"bspump.{name}: {package!r} is installed but its BSPump signatures are not written "
        f"yet; use {package} directly (see docs/migrating-from-bspump.md)",
        name=f"pumpcore_bspump.{name}",
    )
