"""Declarative pumps: ``pumpcore run pump.yaml`` builds pipelines from a YAML or JSON definition
(BSPump's PumpBuilder idea), so a pump made of ready-made components needs no Python.

The definition::

    pipelines:
      - id: Prices                          # required
        config: {error_policy: soft}        # optional: keys over the config file's section
        sources:                            # one or more
          - class: pumpcore_http.HTTPClientSource
            id: Poll                        # optional, as every component's
            config: {url: "http://127.0.0.1:8080/price"}
            args: {headers: {Accept: application/json}}   # other keyword arguments
            triggers:
              - {class: pumpcore.trigger.PeriodicTrigger, args: {interval: 5}}
        processors:                         # the last one is the sink
          - class: pumpcore.common.StdJsonToDictParser
          - function: helpers.enrich        # a function processor (the pump's folder is on
          - class: pumpcore.common.NullSink #   the import path)

Rules:
1. Every error names the file, the line and the key it is about (``pump.yaml:7:
   pipelines[0].sources[0].clas: unknown key``), and the problem: an unknown key (with the
   closest known one), a missing or mistyped value, a class or function that cannot be
   imported, a component that refused its arguments (its own ``ConfigError``).
2. ``class`` and ``function`` are dotted paths ``module.attribute``. Components are built as
   ``cls(id=..., config=..., **args)`` (pumpcore's signatures), triggers as ``cls(**args)``.
3. The config files (``-c``) apply as to any pump: ``[pipeline:ID]`` and
   ``[pipeline:ID:ComponentID]`` sections, under the definition's ``config`` keys.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pumpcore import (
    ConfigError,
    Pipeline,
    Processor,
    Settings,
    Source,
    TriggerSource,
    use_settings,
)

SUFFIXES = (".yaml", ".yml", ".json")

_KEYS = {
    "pump": {"pipelines"},
    "pipeline": {"id", "config", "sources", "processors"},
    "component": {"class", "id", "config", "args"},
    "source": {"class", "id", "config", "args", "triggers"},
    "processor": {"class", "function", "id", "config", "args"},
    "trigger": {"class", "args"},
}


class DefinitionError(ConfigError):
    """A pump definition that cannot be built; the message names the file, line and key."""


class _Node:
    """A value of the definition at ``keys``, with the lines of its keys and items (rule 1)."""

    def __init__(self, keys: tuple[Any, ...], where: str, value: Any, lines: Lines) -> None:
        self.keys, self.where, self.value = keys, where, value
        self._lines = lines
        self.path = ""
        for key in keys:
            self.path = _join(self.path, key)

    def fail(self, message: str, key: object = None) -> DefinitionError:
        here = self._lines.get(self.keys, {})
        line = here.get(key, here.get(None, 1))
        path = self.path if key is None else _join(self.path, key)
        return DefinitionError(f"{self.where}:{line}: {path or 'the definition'}: {message}")

    def at(self, key: Any) -> _Node:
        return _Node((*self.keys, key), self.where, self.value[key], self._lines)

    def child(self, key: Any, kind: type | tuple[type, ...], required: bool = False) -> Any:
        """The value at ``key`` checked to be ``kind``; None when absent and not required."""
        if key not in self.value:
            if required:
                raise self.fail(f"`{key}` is required")
            return None
        value = self.value[key]
        if not isinstance(value, kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
            raise self.fail(f"expected {names}, got {value!r}", key)
        return value

    def check_keys(self, kind: str) -> None:
        known = _KEYS[kind]
        for key in self.value:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(f"unknown key{hint} (known: {', '.join(sorted(known))})", key)

    def items(self, key: str, kind: str) -> list[_Node]:
        """The list at ``key`` (a single mapping counts as a list of one), each checked."""
        value = self.child(key, (list, dict))
        if value is None:
            return []
        holder = self.at(key)
        nodes = [holder] if isinstance(value, dict) else [holder.at(i) for i in range(len(value))]
        for node in nodes:
            if not isinstance(node.value, dict):
                raise node.fail(f"expected a mapping, got {node.value!r}")
            node.check_keys(kind)
        return nodes


_KIND_NAMES: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
Lines = dict[tuple[Any, ...], dict[Any, int]]


def _join(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def _parse(text: str, where: str) -> tuple[Any, Lines]:
    """The definition's data (YAML; JSON is YAML) and, for each mapping and list in it, the
    line of each key and item."""
    try:
        import yaml
    except ImportError:
        raise DefinitionError(
            f"{where}: reading a YAML or JSON pump needs PyYAML: pip install 'pumpcore[bspump]'"
        ) from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise DefinitionError(f"{where}:{line} not valid YAML or JSON: {problem}") from None
    lines: Lines = {}

    def walk(node: Any, keys: tuple[Any, ...]) -> None:
        here = lines.setdefault(keys, {None: node.start_mark.line + 1})
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                here[key_node.value] = key_node.start_mark.line + 1
                walk(value_node, (*keys, key_node.value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                here[index] = item.start_mark.line + 1
                walk(item, (*keys, index))

    if root is not None:
        walk(root, ())
    return data, lines


def _import(node: _Node, key: str) -> Any:
    dotted = node.child(key, str, required=True)
    module, _, name = dotted.rpartition(".")
    if not module:
        raise node.fail(f"expected a dotted path 'module.name', got {dotted!r}", key)
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise node.fail(f"cannot import module {module!r}: {exc}", key) from None
    except AttributeError:
        raise node.fail(f"module {module!r} has no {name!r}", key) from None


def _construct(node: _Node, factory: Callable[..., Any], **kwargs: Any) -> Any:
    args = node.child("args", dict) or {}
    try:
        return factory(**kwargs, **args)
    except (ConfigError, TypeError, ValueError) as exc:
        name = getattr(factory, "__name__", repr(factory))
        about = "config" if "config" in node.value and isinstance(exc, ConfigError) else None
        about = about or ("args" if args else "class")
        raise node.fail(f"{name}: {exc}", about) from None


def _component(node: _Node, base: type) -> Any:
    cls = _import(node, "class")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise node.fail(f"{cls!r} is not a pumpcore {base.__name__}", "class")
    return _construct(node, cls, id=node.child("id", str), config=node.child("config", dict))


def _source(node: _Node) -> Source:
    source: Source = _component(node, Source)
    for trigger in node.items("triggers", "trigger"):
        if not isinstance(source, TriggerSource):
            raise node.fail(f"{type(source).__name__} is not a TriggerSource", "triggers")
        source.on(_construct(trigger, _import(trigger, "class")))
    return source


def _processor(node: _Node) -> Any:
    if "function" not in node.value:
        return _component(node, Processor)
    if "class" in node.value:
        raise node.fail("give `class` or `function`, not both", "function")
    function = _import(node, "function")
    if not callable(function):
        raise node.fail(f"{function!r} is not callable", "function")
    return function


def _pipeline(node: _Node) -> Pipeline:
    pid = node.child("id", str, required=True)
    config = node.child("config", dict)
    try:
        pipeline = Pipeline(pid, config)
    except ConfigError as exc:
        raise node.fail(str(exc), "config" if config else "id") from None
    sources = [_source(s) for s in node.items("sources", "source")]
    if not sources:
        raise node.fail("a pipeline needs `sources`")
    processors = [_processor(p) for p in node.items("processors", "processor")]
    try:
        pipeline.build(sources, *processors)
    except ConfigError as exc:
        raise node.fail(str(exc), "processors" if "processors" in node.value else None) from None
    return pipeline


def build_pipelines(text: str, where: str) -> list[Pipeline]:
    """The pipelines ``text`` defines; ``where`` names it in errors (rule 1)."""
    data, lines = _parse(text, where)
    root = _Node((), where, data, lines)
    if not isinstance(data, dict):
        raise root.fail("expected a mapping with `pipelines`")
    root.check_keys("pump")
    if not root.child("pipelines", list, required=True):
        raise root.fail("defines no pipeline", "pipelines")
    return [_pipeline(node) for node in root.items("pipelines", "pipeline")]


def load_definition(path: Path, settings: Settings) -> list[Pipeline]:
    """Build the pipelines a YAML or JSON pump definition describes (rules 1-3).

    Raises:
        DefinitionError: naming the file, the line and the key (rule 1).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"cannot read pump file {str(path)!r}: {exc.strerror}") from None
    with use_settings(settings):
        return build_pipelines(text, str(path))
