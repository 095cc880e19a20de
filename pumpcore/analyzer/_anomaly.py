"""Anomalies built from symptoms (BSPump's ``Anomaly``, ``GeneralAnomaly``, ``AnomalyManager``,
``AnomalyStorage``).

Rules:
1. A symptom is an event ``{"@timestamp", "key", "key_dimensions", "type", "symptom"}`` (what
   ``ThresholdAnalyzer.alarm`` returns). One missing a field is counted under BSPump's counter
   name (``timestamp.miss``…) and passes on; nothing is dropped silently.
2. Symptoms with the same ``key`` gather in one open anomaly (a dict: ``@timestamp`` of the
   first symptom, ``type``, ``status``, ``symptoms``, and the key dimensions at the top level).
3. Every ``flush_period`` seconds of pipeline time the storage asks each open anomaly whether it
   closed (``on_tick``); closed anomalies older than ``closed_anomaly_longevity`` are passed on
   once, holding the origins of their symptoms, and leave the storage; open ones are passed on
   too, as a copy for persistence (BSPump's periodic flush), holding nothing.
4. At stop every anomaly, open or closed, is passed on with its origins.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._component import Context, Emitted, Processor
from .._config import ConfigRule, positive
from .._delivery import NO_ORIGIN, Held, Origin, current_origin
from .._errors import ConfigError

if TYPE_CHECKING:
    from .._pipeline import Pipeline


class Anomaly(dict[str, Any]):
    """An anomaly: a dict with ``@timestamp``, ``type``, ``status``, ``symptoms``.

    Subclass it for a specific ``TYPE`` and override ``on_tick`` to decide when it closes.
    """

    TYPE: ClassVar[str] = "default"

    def on_tick(self, current_time: float) -> None:
        """Decide at ``current_time`` whether the anomaly closed (set ``status``)."""

    def close(self, current_time: float) -> None:
        """Mark the anomaly closed at ``current_time`` (``ts_end``)."""
        self["status"] = "closed"
        self["ts_end"] = current_time


class GeneralAnomaly(Anomaly):
    """The default anomaly: closed by a symptom's ``status: closed`` or by time without symptoms.

    Args:
        close_rules: ``"type:rule;type:rule"``: a rule is ``status`` (a symptom says so) or a
            number of seconds since the latest symptom; ``default`` applies to other types.

    Example:
        >>> a = GeneralAnomaly(close_rules="default:60")
        >>> a.update({"type": "threshold", "status": "open", "symptoms": [{"@timestamp": 10}]})
        >>> a.on_tick(50); a["status"]
        'open'
        >>> a.on_tick(71); a["status"]
        'closed'
    """

    TYPE = "default"

    def __init__(self, close_rules: str = "default:status") -> None:
        super().__init__()
        self.CloseRules = parse_close_rules(close_rules)

    def on_tick(self, current_time: float) -> None:
        """Close by the rule of the anomaly's type (rule ``status`` or seconds)."""
        if self["status"] == "closed":
            return
        rule = self.CloseRules.get(self["type"], self.CloseRules.get("default", "status"))
        last_timestamp, last_status = 0.0, "open"
        for symptom in self["symptoms"]:
            timestamp = symptom.get("@timestamp", 0)
            if timestamp > last_timestamp:
                last_timestamp, last_status = timestamp, symptom.get("status", "open")
        if rule == "status":
            if last_status == "closed":
                self["status"] = "closed"
        elif last_timestamp and current_time > last_timestamp + float(rule):
            self["status"] = "closed"


def parse_close_rules(text: str) -> dict[str, str]:
    """``"default:status;cpu:300"`` → ``{"default": "status", "cpu": "300"}``.

    Raises:
        ConfigError: a part is not ``type:rule`` or a rule is neither ``status`` nor a number.
    """
    rules: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        kind, sep, rule = part.partition(":")
        if not sep or not kind or not rule:
            raise ConfigError(f"GeneralAnomaly: close_rules part {part!r} is not 'type:rule'")
        if rule != "status":
            try:
                float(rule)
            except ValueError:
                raise ConfigError(
                    f"GeneralAnomaly: close rule for {kind!r} must be 'status' or seconds, "
                    f"got {rule!r}"
                ) from None
        rules[kind] = rule
    return rules


class AnomalyStorage(dict[str, dict[str, Anomaly]]):
    """Open and closed anomalies by key (``storage["open"]``, ``storage["closed"]``).

    Config (as a mapping): ``closed_anomaly_longevity`` seconds a closed anomaly stays before
    it is flushed (default 5).
    """

    def __init__(self, id: str = "AnomalyStorage", closed_anomaly_longevity: float = 5) -> None:
        super().__init__(open={}, closed={})
        self.Id = id
        self.ClosedAnomalyLongevity = closed_anomaly_longevity
        #: BSPump's counter names (``anomaly.storage``).
        self.Counters = {"anomalies.closed.flushed": 0, "anomalies.open.flushed": 0}
        #: The origin each anomaly's symptoms hold, by key.
        self.Origins: dict[str, Origin] = {}

    def flush(self, current_time: float) -> tuple[list[Held], list[tuple[Context, Anomaly]]]:
        """Close what closed, take out the closed anomalies past their longevity (with their
        origins) and copies of the open ones (rule 3)."""
        for key, anomaly in list(self["open"].items()):
            anomaly.on_tick(current_time)
            if anomaly["status"] == "closed":
                anomaly.close(current_time)
                self["closed"][key] = self["open"].pop(key)
        done: list[Held] = []
        for key, anomaly in list(self["closed"].items()):
            if current_time > anomaly["ts_end"] + self.ClosedAnomalyLongevity:
                del self["closed"][key]
                done.append(Held({"es_id": key}, anomaly, self.Origins.pop(key, NO_ORIGIN)))
        self.Counters["anomalies.closed.flushed"] += len(done)
        copies = [({"es_id": k}, copy.deepcopy(a)) for k, a in self["open"].items()]
        self.Counters["anomalies.open.flushed"] += len(copies)
        return done, copies

    def take_all(self) -> list[Held]:
        """Every anomaly with its origins, the storage emptied (the pipeline stops)."""
        out = [
            Held({"es_id": key}, anomaly, self.Origins.pop(key, NO_ORIGIN))
            for state in ("closed", "open")
            for key, anomaly in self[state].items()
        ]
        self["open"].clear()
        self["closed"].clear()
        return out


class AnomalyManager(Processor):
    """Gathers symptoms into anomalies by key (rule 2); passes the symptoms on.

    Config:
        flush_period: seconds of pipeline time between storage flushes (default 300).
        close_rules: ``GeneralAnomaly``'s rules (default ``default:status``).

    Args:
        anomaly_storage: where anomalies live (a new ``AnomalyStorage`` when None).
        anomaly_classes: ``Anomaly`` subclasses by their ``TYPE``; others are ``GeneralAnomaly``.

    Example:
        >>> from pumpcore.testing import run_chain
        >>> manager = AnomalyManager()
        >>> symptom = {"@timestamp": 60, "key": "/a", "key_dimensions": {"route": "/a"},
        ...     "type": "threshold", "symptom": {"@timestamp": 60, "value": 9}}
        >>> out = run_chain([manager], [symptom, dict(symptom), {"key": "x"}])
        >>> [a["route"] for a in out if isinstance(a, Anomaly)], manager.Counters["timestamp.miss"]
        (['/a'], 1)
        >>> len(out[-1]["symptoms"])
        2
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "flush_period": 300.0,
        "close_rules": "default:status",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {"flush_period": positive()}

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        anomaly_storage: AnomalyStorage | None = None,
        anomaly_classes: Sequence[type[Anomaly]] = (),
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.AnomalyStorage = anomaly_storage if anomaly_storage is not None else AnomalyStorage()
        self.AnomalyClasses = list(anomaly_classes)
        self.Counters = dict.fromkeys(
            ("timestamp.miss", "key.miss", "key.dimensions.miss", "type.miss", "symptom.miss"), 0
        )
        self._next_flush: float | None = None
        self._last_origin: dict[str, Origin] = {}
        super().__init__(pipeline, id, config)

    def apply_config(self) -> None:
        """Read the flush period and the close rules."""
        self.FlushPeriod = float(self.Config["flush_period"])
        self.CloseRules = str(self.Config["close_rules"])
        parse_close_rules(self.CloseRules)

    def create_anomaly(
        self, key_dimensions: Mapping[str, Any], timestamp_started: float, anomaly_type: str
    ) -> Anomaly:
        """A new open anomaly of the class for ``anomaly_type``."""
        for cls in self.AnomalyClasses:
            if anomaly_type == cls.TYPE:
                anomaly: Anomaly = cls()
                break
        else:
            anomaly = GeneralAnomaly(self.CloseRules)
        anomaly.update(
            {
                "@timestamp": timestamp_started,
                "type": anomaly_type,
                "status": "open",
                "symptoms": [],
            }
        )
        anomaly.update(key_dimensions)
        return anomaly

    def process(self, context: Context, event: Any) -> Any:
        """Store the symptom in its anomaly (rule 2); the event passes on."""
        fields = (
            ("@timestamp", "timestamp.miss"),
            ("key", "key.miss"),
            ("key_dimensions", "key.dimensions.miss"),
            ("type", "type.miss"),
            ("symptom", "symptom.miss"),
        )
        for name, counter in fields:
            if event.get(name) is None:
                self.Counters[counter] += 1
                return event
        key = str(event["key"])
        storage = self.AnomalyStorage
        anomaly = storage["open"].get(key)
        if anomaly is None:
            anomaly = self.create_anomaly(
                event["key_dimensions"], event["@timestamp"], event["type"]
            )
            storage["open"][key] = anomaly
        anomaly["symptoms"].append(event["symptom"])
        origin = current_origin()
        if self._last_origin.get(key) is not origin:
            self._last_origin[key] = origin
            storage.Origins[key] = storage.Origins.get(key, NO_ORIGIN).absorb(origin)
        return event

    def next_awake(self) -> float | None:
        """The next flush, once something is stored."""
        storage = self.AnomalyStorage
        if not storage["open"] and not storage["closed"]:
            return None
        if self._next_flush is None:
            return self.Pipeline.time() if self.Pipeline is not None else 0.0
        return self._next_flush

    def on_tick(self, now: float) -> Emitted:
        """Flush the storage when due (rule 3)."""
        if self._next_flush is None:
            self._next_flush = now + self.FlushPeriod
            return ()
        if now < self._next_flush:
            return ()
        self._next_flush = now + self.FlushPeriod
        done, copies = self.AnomalyStorage.flush(now)
        for key in [k for k in self._last_origin if k not in self.AnomalyStorage.Origins]:
            del self._last_origin[key]
        return [*done, *copies]

    def on_stop(self, now: float) -> Emitted:
        """Pass on every anomaly (rule 4)."""
        self._last_origin.clear()
        return self.AnomalyStorage.take_all()
