"""Every exported name resolves, ``__all__`` is sorted, and nothing private leaks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

PUBLIC_PACKAGES = [
    "pumpcore",
    "pumpcore.common",
    "pumpcore.trigger",
    "pumpcore.lookup",
    "pumpcore.analyzer",
    "pumpcore.testing",
    "pumpcore_executors",
    "pumpcore_elasticsearch",
    "pumpcore_files",
    "pumpcore_amqp",
    "pumpcore_ftp",
    "pumpcore_http",
    "pumpcore_influxdb",
    "pumpcore_mysql",
    "pumpcore_postgres",
    "pumpcore_redis",
    "pumpcore_mqtt",
    "pumpcore_nats",
    "pumpcore_kafka",
    "pumpcore_socket",
    "pumpcore_stdio",
]


def public_modules() -> list[str]:
    names = list(PUBLIC_PACKAGES)
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            if not info.name.startswith("_"):
                names.append(f"{package}.{info.name}")
    return sorted(set(names))


def load(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_names_resolve_and_are_public(name: str) -> None:
    module = load(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert list(exported) == sorted(exported, key=str.lower) or list(exported) == sorted(exported)
    for attr in exported:
        assert not attr.startswith("_"), attr
        assert getattr(module, attr) is not None, attr


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_nothing_public_is_missing_from_all(name: str) -> None:
    module = load(name)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, ModuleType)
        and attr not in {"annotations"}
    }
    assert public <= set(module.__all__)


def test_public_modules_import() -> None:
    for name in public_modules():
        assert load(name) is not None


def test_every_public_item_has_a_docstring() -> None:
    missing = []
    for name in PUBLIC_PACKAGES:
        module = load(name)
        for attr in module.__all__:
            value = getattr(module, attr)
            is_api = inspect.isclass(value) or inspect.isfunction(value)
            if is_api and not (getattr(value, "__doc__", None) or "").strip():
                missing.append(f"{name}.{attr}")
    assert missing == []
