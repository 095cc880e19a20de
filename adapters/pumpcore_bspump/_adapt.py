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

from pumpcore import ConfigError, Pipeline, Settings, use_settings

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


def service_of(app: object) -> Any:
    """The application's ``bspump.PumpService``; None for an application without one."""
    get_service = getattr(app, "get_service", None)
    if get_service is None:
        return None
    try:
        return get_service("bspump.PumpService")
    except KeyError:
        return None


def locate_connection(owner: str, app: object, connection: object, kind: type) -> Any:
    """BSPump's ``connection`` argument: an id registered with ``svc.add_connection`` (located
    there, as BSPump does when the component is made) or the connection itself.

    Raises:
        ConfigError: no connection given, no such id (naming the known ones), or a connection
            of another kind.
    """
    if connection is None:
        raise ConfigError(
            f"{owner}(app, pipeline, connection, ...): `connection` is required: the id of a "
            f"{kind.__name__} registered with svc.add_connection, or the connection itself"
        )
    if isinstance(connection, str):
        svc = service_of(app)
        if svc is None:
            raise ConfigError(
                f"{owner}: connection {connection!r} is named by id, but {app!r} has no "
                "bspump.PumpService to find it in"
            )
        try:
            connection = svc.locate_connection(connection)
        except KeyError as exc:
            raise ConfigError(f"{owner}: {exc.args[0]}") from None
    if not isinstance(connection, kind):
        raise ConfigError(
            f"{owner}: connection {getattr(connection, 'Id', connection)!r} is a "
            f"{type(connection).__name__}, not a {kind.__name__}"
        )
    return connection


class BSPumpConnected(BSPumpComponent):
    """Mixin: ``(app, pipeline, connection, *positional, id=None, config=None)``, the
    connection located by id (``locate_connection``) and passed on as ``connection=``."""

    ConnectionClass: type

    def __init__(
        self, app: object = None, pipeline: Any = None, connection: Any = None, *args: Any,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        owner = type(self).__name__
        check_arguments(owner, app, pipeline, None, None)
        kwargs["connection"] = locate_connection(owner, app, connection, self.ConnectionClass)
        super().__init__(app, pipeline, *args, **kwargs)


def adapt_connected(
    cls: type, module: str, connection: type, positional: tuple[str, ...] = ID_CONFIG
) -> Any:
    """``adapt`` for a component BSPump gives a connection: ``(app, pipeline, connection,
    *positional)``, the connection located by id in the application's PumpService."""
    namespace: dict[str, Any] = {
        "__doc__": f"BSPump's ``{cls.__name__}(app, pipeline, connection, ...)``: pumpcore's "
        f"``{cls.__module__.split('._')[0]}.{cls.__name__}``.",
        "__module__": module,
        "__qualname__": cls.__name__,
        "BSPumpPositional": positional,
        "ConnectionClass": connection,
    }
    return type(cls.__name__, (BSPumpConnected, cls), namespace)


class BSPumpConnection:
    """Mixin: BSPump's ``Connection(app, id=None, config=None)``. Its config is the
    ``[connection:ID]`` section of the application's config files under ``config=``, as
    BSPump's; ``app`` is kept as ``self.App``."""

    App: object

    def __init__(
        self, app: object = None, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        owner = type(self).__name__
        if isinstance(app, str):
            raise ConfigError(
                f"{owner}(app, id=None, config=None): got {app!r} in place of the application; "
                "pass `app` first, as BSPump does"
            )
        check_arguments(owner, app, None, id, config)
        self.App = app
        settings = getattr(app, "Settings", None)
        if not isinstance(settings, Settings):
            settings = Settings()
        cid = id if id is not None else owner
        merged = {**settings.section(f"connection:{cid}"), **(config or {})}
        with use_settings(settings):
            super().__init__(id=id, config=merged)  # type: ignore[call-arg]


def adapt_connection(cls: type, module: str) -> Any:
    """A subclass of the connection ``cls`` taking BSPump's ``(app, id=None, config=None)``."""
    namespace: dict[str, Any] = {
        "__doc__": f"BSPump's ``{cls.__name__}(app, id=None, config=None)`` reading "
        f"``[connection:ID]``: pumpcore's ``{cls.__module__.split('._')[0]}.{cls.__name__}``.",
        "__module__": module,
        "__qualname__": cls.__name__,
    }
    return type(cls.__name__, (BSPumpConnection, cls), namespace)
