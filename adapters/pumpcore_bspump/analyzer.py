"""BSPump's ``bspump.analyzer``: ``pumpcore.analyzer`` with BSPump's signatures.

Rules:
1. Analyzers take the application first, as BSPump's: ``TimeWindowAnalyzer(app, pipeline,
   matrix_id=None, dtype="float_", columns=15, analyze_on_clock=False, resolution=60,
   start_time=None, clock_driven=True, id=None, config=None)``. pumpcore's extras (``trigger``,
   ``analyze_on_close``, ``late_output``, ``snapshot_output``…) are keyword arguments.
2. Matrices are numpy arrays, as BSPump's: ``self.TimeWindow.Array[row, column] += 1`` and
   numpy's whole-matrix functions work. (pumpcore's own default is plain lists, faster for
   per-event writes; pass ``backend="python"`` to have that.) This module needs numpy.
3. An analyzer without ``matrix_id`` makes its matrix, ``<analyzer id>Matrix``, and registers
   it in ``app.get_service("bspump.PumpService")``, so other components ``locate_matrix`` it;
   with ``matrix_id`` it works on the registered matrix of that id (a ``KeyError`` naming the
   known ids when there is none).
4. ``columns`` and ``resolution`` left out are read from the config (``[pipeline:ID:AnalyzerID]``
   keys of those names; 15 and 60 by default, as BSPump's).

Differences from BSPump (docs/migrating-from-bspump.md): a time window matrix is a ring (the
column of a time slot is ``get_column(ts)``, not "the last one"), windows are emitted when they
close (``window_closed``), time is the pipeline's, and a ``SessionMatrix``'s columns are numbers
named in ``dtype=[("name", "i8"), ...]``, indexed ``Array[row, Sessions.Columns["name"]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from pumpcore import ConfigError
from pumpcore import analyzer as _analyzer
from pumpcore.analyzer import Anomaly as Anomaly
from pumpcore.analyzer import GeneralAnomaly as GeneralAnomaly

from ._adapt import BSPumpComponent, check_arguments
from ._adapt import service_of as _service

try:
    import numpy as _np
except ImportError:
    raise ImportError(
        "bspump.analyzer needs numpy (BSPump's matrices are numpy arrays): "
        "pip install 'pumpcore[numpy]'",
        name="pumpcore_bspump.analyzer",
    ) from None

__all__ = (
    "Analyzer",
    "Anomaly",
    "AnomalyManager",
    "AnomalyStorage",
    "GeneralAnomaly",
    "LatchAnalyzer",
    "SessionAnalyzer",
    "SessionMatrix",
    "ThresholdAnalyzer",
    "TimeDriftAnalyzer",
    "TimeWindowAnalyzer",
    "TimeWindowMatrix",
)

_NUMERIC_KINDS = "biuf"


def _locate(owner: str, app: object, matrix_id: str | None, kind: type) -> Any:
    """The registered matrix ``matrix_id`` (rule 3); None when no id is given.

    Raises:
        ConfigError: no application to locate it in, or the matrix is not a ``kind``.
        KeyError: no such matrix, naming the known ids.
    """
    if matrix_id is None:
        return None
    if not isinstance(matrix_id, str):
        raise ConfigError(f"{owner}: `matrix_id` must be a str, got {matrix_id!r}")
    svc = _service(app)
    if svc is None:
        raise ConfigError(f"{owner}: matrix_id={matrix_id!r} needs the application's PumpService")
    matrix = svc.locate_matrix(matrix_id)
    if not isinstance(matrix, kind):
        raise ConfigError(
            f"{owner}: matrix {matrix_id!r} is a {type(matrix).__name__}, not a {kind.__name__}"
        )
    return matrix


class _RegistersMatrix:
    """Registers the analyzer's own matrix in the PumpService, again when it is remade (a
    config section changing its shape before the run)."""

    App: object
    _registered: Any = None

    def _register(self, matrix: Any) -> None:
        svc = _service(self.App)
        if svc is None or matrix is self._registered:
            return
        previous = self._registered
        if previous is not None and svc.Matrices.get(previous.Id) is previous:
            del svc.Matrices[previous.Id]
        svc.add_matrix(matrix)
        self._registered = matrix


def _session_columns(owner: str, dtype: Any) -> tuple[str, tuple[str, ...] | None]:
    """BSPump's ``dtype``: one type for every cell, or ``[(name, type), ...]`` naming the columns.

    Raises:
        ConfigError: a column that is not numeric (matrices hold numbers), or a malformed list.
    """
    if isinstance(dtype, str):
        return dtype, None
    try:
        pairs = [(str(name), _np.dtype(kind)) for name, kind in dtype]
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{owner}: dtype must be a type string or a list of (name, type), got {dtype!r}"
        ) from exc
    if not pairs:
        raise ConfigError(f"{owner}: dtype lists no column")
    for name, kind in pairs:
        if kind.kind not in _NUMERIC_KINDS:
            raise ConfigError(
                f"{owner}: column {name!r} has dtype {kind.str!r}; matrix cells are numbers "
                "(keep strings in the events, or in a lookup by the row's name)"
            )
    common = _np.result_type(*(kind for _, kind in pairs))
    return common.str, tuple(name for name, _ in pairs)


# ------------------------------------------------------------------------- matrices


class TimeWindowMatrix(_analyzer.TimeWindowMatrix):
    """BSPump's ``TimeWindowMatrix(app, dtype="float_", start_time=None, resolution=60,
    columns=15, clock_driven=False, id=None, config=None)`` on numpy.

    Config: ``allowed_lateness`` and ``early_limit`` (pumpcore's; see ``TimeWindowMatrix``).
    """

    def __init__(
        self,
        app: object = None,
        dtype: str = "float_",
        start_time: float | None = None,
        resolution: float = 60,
        columns: int = 15,
        clock_driven: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        check_arguments("TimeWindowMatrix", app, None, id, config)
        self.App = app
        options = dict(config or {})
        unknown = sorted(set(options) - {"allowed_lateness", "early_limit"})
        if unknown:
            raise ConfigError(
                f"TimeWindowMatrix: unknown config key(s) {', '.join(unknown)} "
                "(known: allowed_lateness, early_limit)"
            )
        super().__init__(
            resolution,
            columns,
            clock_driven=clock_driven,
            start_time=start_time,
            allowed_lateness=float(options.get("allowed_lateness", 0.0)),
            early_limit=float(options.get("early_limit", 0.0)),
            dtype=dtype,
            backend="numpy",
            id=id,
        )


class SessionMatrix(_analyzer.SessionMatrix):
    """BSPump's ``SessionMatrix(app, dtype="float_", id=None, config=None)`` on numpy.

    ``dtype=[("count", "i8"), ("bytes", "i8")]`` names the columns (numbers only); a single
    type gives one column, ``count``. Config: ``primary_name``, the key ``decode_row`` puts the
    session's name under (default ``id``).
    """

    def __init__(
        self,
        app: object = None,
        dtype: Any = "float_",
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        check_arguments("SessionMatrix", app, None, id, config)
        self.App = app
        options = dict(config or {})
        unknown = sorted(set(options) - {"primary_name"})
        if unknown:
            raise ConfigError(
                f"SessionMatrix: unknown config key(s) {', '.join(unknown)} (known: primary_name)"
            )
        cell_type, names = _session_columns("SessionMatrix", dtype)
        super().__init__(
            names or ("count",),
            cell_type,
            backend="numpy",
            primary_name=str(options.get("primary_name", "id")),
            id=id,
        )


# ------------------------------------------------------------------------- analyzers


class Analyzer(BSPumpComponent, _analyzer.Analyzer):
    """BSPump's ``Analyzer(app, pipeline, analyze_on_clock=False, id=None, config=None)``:
    override ``predicate``, ``evaluate`` and ``analyze`` (which may return events to pass on)."""

    BSPumpPositional = ("analyze_on_clock", "id", "config")
    ConfigAllowUnknown: ClassVar[bool] = True


class TimeWindowAnalyzer(_RegistersMatrix, _analyzer.TimeWindowAnalyzer):
    """BSPump's ``TimeWindowAnalyzer`` (rule 1): write ``evaluate``; each time slot's window is
    handed to ``window_closed`` when it closes.

    Args:
        matrix_id: work on this registered ``TimeWindowMatrix`` (its clock, resolution and
            columns) instead of making one.
        clock_driven: the head follows the pipeline's clock (BSPump's default); False: event
            time. With ``matrix_id``, the matrix's own unless given.
        kwargs: pumpcore's ``TimeWindowAnalyzer`` keyword arguments (``trigger``,
            ``analyze_on_close``, ``late_output``, ``snapshot_output``, ``backend``…).
    """

    ConfigAllowUnknown: ClassVar[bool] = True

    def __init__(
        self,
        app: object = None,
        pipeline: Any = None,
        matrix_id: str | None = None,
        dtype: str = "float_",
        columns: int | None = None,
        analyze_on_clock: bool = False,
        resolution: float | None = None,
        start_time: float | None = None,
        clock_driven: bool | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        check_arguments(owner, app, pipeline, id, config)
        self.App = app
        matrix = _locate(owner, app, matrix_id, _analyzer.TimeWindowMatrix)
        if matrix is not None:
            if clock_driven is not None and clock_driven != matrix.ClockDriven:
                raise ConfigError(
                    f"{owner}: clock_driven={clock_driven} but matrix {matrix_id!r} is "
                    f"clock_driven={matrix.ClockDriven}; leave clock_driven out to follow it"
                )
            clock_driven = matrix.ClockDriven
            columns, resolution = matrix.Columns, matrix.Resolution
        kwargs.setdefault("backend", "numpy")
        super().__init__(
            pipeline,
            matrix,
            dtype,
            columns,
            analyze_on_clock,
            resolution,
            start_time,
            True if clock_driven is None else clock_driven,
            id,
            config,
            **kwargs,
        )

    def apply_config(self) -> None:
        """pumpcore's, then register the matrix it made (rule 3)."""
        super().apply_config()
        if self.TimeWindow is not self._given:
            self._register(self.TimeWindow)


class SessionAnalyzer(_RegistersMatrix, _analyzer.SessionAnalyzer):
    """BSPump's ``SessionAnalyzer(app, pipeline, matrix_id=None, dtype="float_",
    analyze_on_clock=False, id=None, config=None)``: write ``evaluate`` with
    ``row = self.get_session(key, timestamp)``; each session is handed to ``session_closed``
    when it closes (``session_gap`` seconds without events).

    Args:
        dtype: ``[("name", "i8"), ...]`` names the matrix's columns (``SessionMatrix``).
        kwargs: pumpcore's keyword arguments (``trigger``, ``snapshot_output``…).
    """

    ConfigAllowUnknown: ClassVar[bool] = True

    def __init__(
        self,
        app: object = None,
        pipeline: Any = None,
        matrix_id: str | None = None,
        dtype: Any = "float_",
        analyze_on_clock: bool = False,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        owner = type(self).__name__
        check_arguments(owner, app, pipeline, id, config)
        self.App = app
        matrix = _locate(owner, app, matrix_id, _analyzer.SessionMatrix)
        cell_type, names = _session_columns(owner, dtype)
        if names is not None:
            kwargs.setdefault("column_names", names)
        kwargs.setdefault("backend", "numpy")
        super().__init__(
            pipeline, matrix, cell_type, analyze_on_clock, id, config, **kwargs
        )  # fmt: skip
        if matrix is None:
            self._register(self.Sessions)


class ThresholdAnalyzer(BSPumpComponent, _RegistersMatrix, _analyzer.ThresholdAnalyzer):
    """BSPump's ``ThresholdAnalyzer(app, pipeline, id=None, config=None)``, configured by
    ``event_attribute``, ``event_value``, ``lower_bound``, ``upper_bound``,
    ``anomaly_occurrence``…; clock driven by default, as BSPump's. Its alarms are symptoms for
    ``AnomalyManager``."""

    def __init__(self, app: object = None, pipeline: Any = None, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("backend", "numpy")
        super().__init__(app, pipeline, *args, **kwargs)

    def apply_config(self) -> None:
        """pumpcore's, then register the matrix (rule 3)."""
        super().apply_config()
        self._register(self.TimeWindow)


class LatchAnalyzer(BSPumpComponent, _analyzer.LatchAnalyzer):
    """BSPump's ``LatchAnalyzer(app, pipeline, query=True, analyze_on_clock=False,
    inclusive=False, id=None, config=None)``: the latest events in ``self.Latch``.

    ``query`` is True, False, a predicate, or BSPump's mongo-like dict (with ``mongoquery``
    installed).
    """

    BSPumpPositional = ("query", "analyze_on_clock", "inclusive", "id", "config")

    def __init__(self, app: object = None, pipeline: Any = None, *args: Any, **kwargs: Any) -> None:
        args_list = list(args)
        if args_list:
            args_list[0] = _query(args_list[0])
        elif "query" in kwargs:
            kwargs["query"] = _query(kwargs["query"])
        super().__init__(app, pipeline, *args_list, **kwargs)


def _query(query: Any) -> bool | Callable[[Any], bool]:
    """A mongo-like dict as a predicate (``mongoquery``); anything else as it is."""
    if not isinstance(query, Mapping):
        return query  # type: ignore[no-any-return]
    try:
        import mongoquery  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError(
            "LatchAnalyzer: a dict query needs mongoquery (pip install mongoquery), or pass a "
            "predicate: query=lambda event: ..."
        ) from None
    match: Callable[[Any], bool] = mongoquery.Query(dict(query)).match
    return match


class TimeDriftAnalyzer(BSPumpComponent, _analyzer.TimeDriftAnalyzer):
    """BSPump's ``TimeDriftAnalyzer(app, pipeline, id=None, config=None)``: statistics of how far
    ``@timestamp`` (ms) trails the pipeline's clock, in ``self.Gauge`` (seconds)."""


class AnomalyStorage(_analyzer.AnomalyStorage):
    """BSPump's ``AnomalyStorage(app, id="AnomalyStorage", config=None)``; config
    ``closed_anomaly_longevity`` (seconds, default 5)."""

    def __init__(
        self,
        app: object = None,
        id: str = "AnomalyStorage",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        check_arguments("AnomalyStorage", app, None, id, config)
        self.App = app
        options = dict(config or {})
        unknown = sorted(set(options) - {"closed_anomaly_longevity"})
        if unknown:
            raise ConfigError(
                f"AnomalyStorage: unknown config key(s) {', '.join(unknown)} "
                "(known: closed_anomaly_longevity)"
            )
        super().__init__(id, float(options.get("closed_anomaly_longevity", 5)))


class AnomalyManager(BSPumpComponent, _analyzer.AnomalyManager):
    """BSPump's ``AnomalyManager(app, pipeline, anomaly_storage, anomaly_classes=(), id=None,
    config=None)``: symptoms gathered into anomalies by key, flushed on the pipeline's clock."""

    BSPumpPositional = ("anomaly_storage", "anomaly_classes", "id", "config")

    def __init__(self, app: object = None, pipeline: Any = None, *args: Any, **kwargs: Any) -> None:
        classes: Sequence[Any] = args[1] if len(args) > 1 else kwargs.get("anomaly_classes", ())
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Anomaly)):
                raise ConfigError(f"AnomalyManager: {cls!r} in anomaly_classes is not an Anomaly")
        super().__init__(app, pipeline, *args, **kwargs)
