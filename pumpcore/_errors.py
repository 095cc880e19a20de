"""The error hierarchy, split by whose fault it is.

- ``ConfigError``: a mistake in how the pump was put together; raised at build time and names the
  component, the key and the bad value.
- ``ProcessingError`` and its subclasses: something went wrong with an event at run time; the
  pipeline's error policy decides what happens next.
- ``ConnectionError_``-style failures belong to adapters, which subclass ``PumpError`` themselves.
"""

from __future__ import annotations


class PumpError(Exception):
    """Root of every error pumpcore raises on purpose."""


class ConfigError(PumpError, ValueError):
    """A component was configured wrongly: unknown key, value of the wrong type, bad structure."""


class ProcessingError(PumpError):
    """An event could not be processed."""


class IncompletePipelineError(ProcessingError):
    """An event fell off the end of a pipeline without reaching a sink."""


class RejectedInputError(ProcessingError):
    """An input a source could not turn into an event (undecodable, oversized, malformed).

    It is the ``exception`` of the ``Failure`` a rejected input is reported with
    (``pumpcore.lowlevel.Rejected``), so a dead-letter sink tells it from an event that failed.

    Attributes:
        reason: why the source rejected the input, as the adapter said it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueFullError(PumpError):
    """A bounded queue (an ``InternalSource``) cannot take another event right now.

    The caller should wait until the target pipeline is ready again (``put_async`` does that) or
    route through a ``RouterProcessor``, which throttles its own pipeline instead.
    """


class PipelineStoppedError(PumpError):
    """Events were offered to a pipeline that has been stopped."""


class ConfigWarning(UserWarning):
    """A config file names a pipeline or component that does not exist (``check_settings``).

    Not an error by default: BSPump ignored such sections, and one config file may serve several
    pump files. ``pumpcore run --strict-config`` turns it into a ``ConfigError``.
    """


class LookupLoadError(PumpError):
    """A lookup could not be loaded at start, so the run ended as when a source fails to open
    (the provider's exception is the ``__cause__``). Make the lookup ``optional`` to start
    without its data instead."""
