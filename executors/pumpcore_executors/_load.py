"""Loading a pump file for ``pumpcore run``: execute it with the config file's settings in force
and collect the pipelines it defines.

Rules:
1. The pump file's folder is on the import path while it loads and runs, as when Python runs a
   script, so a pump split into modules beside it (BSPump's blank app) imports them.
2. A file that defines no pipeline but has an ``if __name__ == "__main__":`` block is a program
   (a BSPump application: ``app = BSPumpApplication(); ...; app.run()``): ``run_program`` runs
   it as ``__main__`` with the command line it would have been given by hand.
"""

from __future__ import annotations

import ast
import contextlib
import runpy
import sys
from collections.abc import Iterator, Sequence
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


class NoPipelineError(ConfigError):
    """The pump file defines no pipeline (it may be a program: rule 2)."""


@contextlib.contextmanager
def pump_folder_on_path(path: Path) -> Iterator[None]:
    """Put the pump file's folder first on ``sys.path`` for the block (rule 1)."""
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def is_program(path: Path) -> bool:
    """True when the file has a module-level ``if __name__ == "__main__":`` block (rule 2)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            texts = {n.id if isinstance(n, ast.Name) else getattr(n, "value", None) for n in names}
            if texts == {"__name__", "__main__"}:
                return True
    return False


def run_program(path: Path, argv: Sequence[str]) -> int:
    """Run ``path`` as ``__main__`` with ``sys.argv = [path, *argv]`` (rule 2); its exit code."""
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
    return 0


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
        raise NoPipelineError(
            f"{path} defines no pipeline: create Pipeline objects at module level, "
            "or a `pipelines` list, or a `pump = Pump([...])`"
        )
    check_settings(settings, found, strict=strict_config)
    return found
