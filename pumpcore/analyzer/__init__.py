"""BSPump's analyzers: time windows and sessions over matrices, thresholds, latches, time drift,
anomalies. Pure like the rest of the core: time is the pipeline's, window state holds its
events' source positions until it is emitted, snapshots are plain data."""

from ._analyzer import Analyzer as Analyzer
from ._analyzer import SideOutput as SideOutput
from ._anomaly import Anomaly as Anomaly
from ._anomaly import AnomalyManager as AnomalyManager
from ._anomaly import AnomalyStorage as AnomalyStorage
from ._anomaly import GeneralAnomaly as GeneralAnomaly
from ._cells import Backend as Backend
from ._latch import LatchAnalyzer as LatchAnalyzer
from ._session import SessionAnalyzer as SessionAnalyzer
from ._session import SessionMatrix as SessionMatrix
from ._threshold import ThresholdAnalyzer as ThresholdAnalyzer
from ._timedrift import TimeDriftAnalyzer as TimeDriftAnalyzer
from ._timedrift import TimeDriftFilter as TimeDriftFilter
from ._timewindow import TimeWindowAnalyzer as TimeWindowAnalyzer
from ._timewindow_matrix import TimeWindowMatrix as TimeWindowMatrix

__all__ = (
    "Analyzer",
    "Anomaly",
    "AnomalyManager",
    "AnomalyStorage",
    "Backend",
    "GeneralAnomaly",
    "LatchAnalyzer",
    "SessionAnalyzer",
    "SessionMatrix",
    "SideOutput",
    "ThresholdAnalyzer",
    "TimeDriftAnalyzer",
    "TimeDriftFilter",
    "TimeWindowAnalyzer",
    "TimeWindowMatrix",
)
