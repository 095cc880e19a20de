"""BSPump's ``Pipeline(app, pipeline_id)``: a pumpcore pipeline that takes the application first.

The application brings the config files (``-c``): the pipeline reads its ``[pipeline:ID]``
section from them, and so do its components (``[pipeline:ID:ComponentID]``). Keys a subclass
reads from ``self.Config`` without declaring them are accepted, as BSPump accepts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

import pumpcore
from pumpcore import ConfigError, Settings

from ._adapt import check_arguments


class Pipeline(pumpcore.Pipeline):
    """A pipeline with BSPump's constructor; subclass it and call ``self.build`` as BSPump does.

    Args:
        app: the ``BSPumpApplication`` (its ``Settings`` are the config files' sections).
        id: the pipeline id (default: the class name).
        config: keys laid over the config file's ``[pipeline:ID]`` section.
    """

    ConfigAllowUnknown: ClassVar[bool] = True

    def __init__(
        self,
        app: object = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        if isinstance(app, str) and id is None:
            raise ConfigError(
                f"{owner}(app, pipeline_id): got the id {app!r} in place of the application; "
                "pass `app` first, as BSPump does"
            )
        check_arguments(owner, app, None, id, config)
        self.App = app
        settings = getattr(app, "Settings", None)
        if settings is not None and not isinstance(settings, Settings):
            settings = None
        kwargs.setdefault("settings", settings)
        super().__init__(id, config, **kwargs)

    async def ready(self) -> None:
        """Return once the pipeline takes events (BSPump's ``await self.Pipeline.ready()``).

        Sources call it before each event: a throttled pipeline (a full queue downstream) or one
        stopped by an error holds them here instead of growing a buffer.
        """
        while not self.is_ready():
            changed = anyio.Event()

            def wake(_ready: bool, changed: anyio.Event = changed) -> None:
                changed.set()

            self.add_ready_listener(wake)
            try:
                await changed.wait()
            finally:
                self.remove_ready_listener(wake)
