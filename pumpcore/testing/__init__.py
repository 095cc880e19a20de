"""Tools for users' tests: run processors and pipelines over lists, a virtual clock, and (in
``pumpcore.testing.strategies``, which needs hypothesis) strategies for events and streams."""

from ._clock import VirtualClock as VirtualClock
from ._run import PipelineRun as PipelineRun
from ._run import run_chain as run_chain
from ._run import run_pipeline as run_pipeline

__all__ = (
    "PipelineRun",
    "VirtualClock",
    "run_chain",
    "run_pipeline",
)
