"""BSPump's constructor signatures in front of pumpcore's components.

BSPump passes the application first: ``Component(app, pipeline, id=None, config=None)``,
``Pipeline(app, pipeline_id)``, ``PeriodicTrigger(app, 5)``. pumpcore has no application object,
so its components take ``(pipeline, id, config)``. ``adapt`` makes a subclass of a pumpcore
component that takes BSPump's arguments, checks them (a mechanical port otherwise fails deep
inside with a message about something else) and keeps ``app`` as ``self.App``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pumpcore import ConfigError, Pipeline

# BSPump's positional arguments after (app, pipeline) for most components.
ID_CONFIG = ("id", "config")


def check_arguments(owner: str, app: object, pipeline: object, id: object, config: object) -> None:
    """Refuse arguments in the wrong places with a message that says what BSPump expects.

    Raises:
        ConfigError: naming the component, the argument and what it got.
    """
    signature = f"{owner}(app, pipeline, id=None, config=None)"
    if isinstance(app, Pipeline):
        raise ConfigError(
            f"{signature}: the first argument is the application, got the pipeline "
            f"{app.Id!r}; pass `app` first, as BSPump does"
        )
    if pipeline is not None and not isinstance(pipeline, Pipeline):
        raise ConfigError(
            f"{signature}: `pipeline` must be a Pipeline, got {pipeline!r}"
            + ("; pass `app` first, as BSPump does" if isinstance(pipeline, str | Mapping) else "")
        )
    if id is not None and not isinstance(id, str):
        raise ConfigError(f"{signature}: `id` must be a str, got {id!r}")
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(f"{signature}: `config` must be a dict, got {config!r}")


def with_section(
    pipeline: Pipeline, component_id: str, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``config`` over the pipeline's ``[pipeline:PID:ComponentID]`` section: what the component
    resolves on joining the pipeline, read at construction as BSPump does, so a component
    configured by its section alone (``ThresholdAnalyzer``'s bounds) is valid from the start."""
    return {**pipeline.component_section(component_id), **(config or {})}


class BSPumpComponent:
    """Mixin: ``(app, pipeline, *positional, id=None, config=None, **kwargs)``.

    ``BSPumpPositional`` names what BSPump's positional arguments after ``pipeline`` are
    (``("id", "config")`` for most components); they are passed on by name, so a pumpcore
    component with keyword-only extras (``headers=``, ``stream=``) takes them as BSPump did.
    """

    BSPumpPositional: tuple[str, ...] = ID_CONFIG
    App: object

    def __init__(self, app: object = None, pipeline: Any = None, *args: Any, **kwargs: Any) -> None:
        owner = type(self).__name__
        names = self.BSPumpPositional
        if len(args) > len(names):
            raise ConfigError(
                f"{owner}(app, pipeline, {', '.join(names)}): {len(args)} positional "
                f"arguments after `pipeline`, at most {len(names)} expected"
            )
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise ConfigError(f"{owner}: `{name}` given twice (by position and by name)")
            kwargs[name] = value
        check_arguments(owner, app, pipeline, kwargs.get("id"), kwargs.get("config"))
        self.App = app
        kwargs["pipeline"] = pipeline
        if pipeline is not None:
            kwargs["config"] = with_section(
                pipeline, kwargs.get("id") or owner, kwargs.get("config")
            )
        super().__init__(**kwargs)


def adapt(cls: type, module: str, positional: tuple[str, ...] = ID_CONFIG) -> Any:
    """A subclass of the pumpcore component ``cls`` with BSPump's signature, same name, living
    in the ``pumpcore_bspump`` module ``module``. Its config keys stay checked: a typo in a
    key of a ready-made component is named, not ignored."""
    namespace: dict[str, Any] = {
        "__doc__": f"BSPump's ``{cls.__name__}(app, pipeline, ...)``: pumpcore's "
        f"``{cls.__module__.split('._')[0]}.{cls.__name__}``.",
        "__module__": module,
        "__qualname__": cls.__name__,
        "BSPumpPositional": positional,
    }
    return type(cls.__name__, (BSPumpComponent, cls), namespace)
