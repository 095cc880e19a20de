"""BSPump modules over pumpcore's optional adapters, and those still to write.

``ADAPTERS`` lists the thin ``pumpcore_bspump/<name>.py`` modules over an adapter that an extra
installs: when its client library is missing, ``bspump.<name>`` raises an ImportError naming the
extra (``needs``). ``LATER`` lists BSPump modules whose file is still to write (``adapt`` lines
over the adapter's classes, as ``http.py`` does): ``bspump.<name>`` raises an ImportError naming
what is missing, and the name moves to ``ADAPTERS`` when its file comes.
"""

from __future__ import annotations

import importlib.util

# BSPump's module name: (the pumpcore package it wraps, the extra that installs it).
ADAPTERS: dict[str, tuple[str, str]] = {
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

# BSPump's module name: (the pumpcore package it will wrap, the extra that installs it).
LATER: dict[str, tuple[str, str]] = {}


def needs(name: str, cause: ImportError) -> ImportError:
    """The error for ``bspump.<name>``, one of ``ADAPTERS``, whose adapter could not be imported
    (its client library is not installed)."""
    package, extra = ADAPTERS[name]
    return ImportError(
        f"bspump.{name} needs pumpcore's adapter {package!r} and its client library: "
        f"pip install 'pumpcore[{extra}]' ({cause})",
        name=f"pumpcore_bspump.{name}",
    )


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
