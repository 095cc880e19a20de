"""pumpcore: a pure, typed, synchronous pipeline core for real-time stream processing.

Pipelines of source → processors → sink in BSPump's vocabulary, with no I/O and no event loop:
executors (``pumpcore_executors``) drive them, adapters (``pumpcore_<name>``) connect them.
"""

from ._clock import Clock as Clock
from ._component import Component as Component
from ._component import Context as Context
from ._component import Generator as Generator
from ._component import Processor as Processor
from ._component import ProcessorFunction as ProcessorFunction
from ._component import Sink as Sink
from ._component import Source as Source
from ._component import blocking as blocking
from ._config import ConfigRule as ConfigRule
from ._config import Configurable as Configurable
from ._config import Settings as Settings
from ._config import check_config as check_config
from ._config import check_settings as check_settings
from ._config import config_value_repr as config_value_repr
from ._config import current_settings as current_settings
from ._config import is_secret_config_key as is_secret_config_key
from ._config import use_settings as use_settings
from ._errors import ConfigError as ConfigError
from ._errors import ConfigWarning as ConfigWarning
from ._errors import IncompletePipelineError as IncompletePipelineError
from ._errors import LookupLoadError as LookupLoadError
from ._errors import PipelineStoppedError as PipelineStoppedError
from ._errors import ProcessingError as ProcessingError
from ._errors import PumpError as PumpError
from ._errors import QueueFullError as QueueFullError
from ._errors import RejectedInputError as RejectedInputError
from ._io_source import AsyncSink as AsyncSink
from ._io_source import AsyncSource as AsyncSource
from ._io_source import BlockingSink as BlockingSink
from ._io_source import BlockingSource as BlockingSource
from ._io_source import IOSource as IOSource
from ._io_source import Received as Received
from ._pipeline import ErrorPolicy as ErrorPolicy
from ._pipeline import Failure as Failure
from ._pipeline import Pipeline as Pipeline
from ._pipeline import Step as Step
from ._pump import Pump as Pump
from ._statistics import ComponentStatistics as ComponentStatistics
from ._statistics import PipelineStatistics as PipelineStatistics
from ._statistics import ProcessorTiming as ProcessorTiming
from ._trigger_source import TriggerSource as TriggerSource

__all__ = (
    "AsyncSink",
    "AsyncSource",
    "BlockingSink",
    "BlockingSource",
    "Clock",
    "Component",
    "ComponentStatistics",
    "ConfigError",
    "ConfigRule",
    "ConfigWarning",
    "Configurable",
    "Context",
    "ErrorPolicy",
    "Failure",
    "Generator",
    "IOSource",
    "IncompletePipelineError",
    "LookupLoadError",
    "Pipeline",
    "PipelineStatistics",
    "PipelineStoppedError",
    "ProcessingError",
    "Processor",
    "ProcessorFunction",
    "ProcessorTiming",
    "Pump",
    "PumpError",
    "QueueFullError",
    "Received",
    "RejectedInputError",
    "Settings",
    "Sink",
    "Source",
    "Step",
    "TriggerSource",
    "blocking",
    "check_config",
    "check_settings",
    "config_value_repr",
    "current_settings",
    "is_secret_config_key",
    "use_settings",
)
