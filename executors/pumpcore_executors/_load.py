"""Loading a pump file for ``pumpcore run``: execute it with the config file's settings in force
and collect the pipelines it defines."""

from __future__ import annotations

import runpy
from collections.abc import Sequence
from pathlib import Path

from pumpcore import ConfigError, Pipeline, Pump, Settings, check_settings, use_settings


def load_settings(paths: Sequence[Path]) -> Settings:
    """Read INI config files in order, later ones overriding earlier ones."""
    settings = Settings()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
        settings = settings.merged(Settings.from_ini(text))
    return settings


def load_pump(path: Path, settings: Settings, *, strict_config: bool = False) -> list[Pipeline]:
    """Run the pump file and return its pipelines.

    The file defines pipelines by one of, in this order of preference: a module-level ``pump``
    (a ``Pump``), a module-level ``pipelines`` list, or ``Pipeline`` objects at module level.
    Config sections naming a pipeline or component the file does not define are reported by
    ``pumpcore.check_settings``: a ``ConfigWarning`` each, a ``ConfigError`` with
    ``strict_config``.
    """
    if not path.is_file():
        raise ConfigError(f"pump file {str(path)!r} does not exist")
    with use_settings(settings):
        namespace = runpy.run_path(str(path), run_name="__pumpcore__")
    pump = namespace.get("pump")
    if isinstance(pump, Pump):
        found = list(pump)
    elif isinstance(namespace.get("pipelines"), list | tuple):
        found = list(namespace["pipelines"])
    else:
        found = [value for value in namespace.values() if isinstance(value, Pipeline)]
    bad = [p for p in found if not isinstance(p, Pipeline)]
    if bad:
        raise ConfigError(f"{path}: `pipelines` holds non-pipelines: {bad!r}")
    if not found:
        raise ConfigError(
            f"{path} defines no pipeline: create Pipeline objects at module level, "
            "or a `pipelines` list, or a `pump = Pump([...])`"
        )
    check_settings(settings, found, strict=strict_config)
    return found
