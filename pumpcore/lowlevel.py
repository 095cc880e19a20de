"""The public contract for executor and adapter authors.

Users build pipelines from ``pumpcore``; whoever writes an executor (a loop that drives the run
machine) or an adapter (a source or sink that does I/O), or a component that keeps events
between calls, needs more: the I/O halves of sources and sinks, positions and their
acknowledgement, the run machine's commands. They import them from here, never from
``pumpcore._*`` modules (a test keeps executors and adapters to that).

- Sources and sinks that do I/O: ``BlockingSource``, ``AsyncSource``, ``BlockingSink``,
  ``AsyncSink``, ``Received``, ``Rejected`` (an input that could not become an event; see
  ``pumpcore/_io_source.py`` for the rules).
- Delivery (``pumpcore/_delivery.py``): ``Mark``, ``Origin``, ``Ledger``; ``hold()`` for a
  component that keeps the event being processed, ``Held`` to emit it later, ``running`` to
  process under a kept origin.
- Executors: the ``RunMachine`` (``pumpcore/_machine.py``) and its commands (``Open``, ``Serve``,
  ``Read``, ``Cycle``, ``Load``, ``Flush``, ``Acknowledge``, ``StopServing``, ``Close``), the
  ``Driver`` it schedules with, ``ExecutorLink`` and ``Offload`` (the calls of async and blocking
  steps), helpers that tell what a part needs.
- Reporting: ``RateLimit`` (``pumpcore/_rate_limit.py``), how many of a stream of failures or
  warnings to tell a human, for the executors' failure log and the adapters' own warnings.
- Payloads (``pumpcore/_payload.py``): ``encode_payload`` and ``encode_typed_payload`` (an event
  as message bytes: bytes as they are, ``str`` as UTF-8, else JSON), ``decode_payload`` and
  ``PAYLOAD_DECODINGS`` (a source's ``decode`` key: ``bytes``, ``text`` or ``json``), for the
  message adapters' ``encode``/``decode`` methods.
"""

from ._component import step_mode as step_mode
from ._delivery import NO_ORIGIN as NO_ORIGIN
from ._delivery import Held as Held
from ._delivery import Ledger as Ledger
from ._delivery import Mark as Mark
from ._delivery import Origin as Origin
from ._delivery import current_origin as current_origin
from ._delivery import hold as hold
from ._delivery import running as running
from ._driver import Commit as Commit
from ._driver import Driver as Driver
from ._driver import Work as Work
from ._driver import is_async_cycle as is_async_cycle
from ._io_source import AsyncSink as AsyncSink
from ._io_source import AsyncSource as AsyncSource
from ._io_source import Batch as Batch
from ._io_source import BlockingSink as BlockingSink
from ._io_source import BlockingSource as BlockingSource
from ._io_source import IOSource as IOSource
from ._io_source import ReadResult as ReadResult
from ._io_source import Received as Received
from ._io_source import Rejected as Rejected
from ._io_source import flush_is_noop as flush_is_noop
from ._io_source import has_serve as has_serve
from ._link import ExecutorLink as ExecutorLink
from ._link import Offload as Offload
from ._link import not_served_error as not_served_error
from ._machine import Acknowledge as Acknowledge
from ._machine import Close as Close
from ._machine import Command as Command
from ._machine import Cycle as Cycle
from ._machine import Flush as Flush
from ._machine import Load as Load
from ._machine import Open as Open
from ._machine import Read as Read
from ._machine import RunMachine as RunMachine
from ._machine import Serve as Serve
from ._machine import Step as Step
from ._machine import StopServing as StopServing
from ._payload import PAYLOAD_DECODINGS as PAYLOAD_DECODINGS
from ._payload import decode_payload as decode_payload
from ._payload import encode_payload as encode_payload
from ._payload import encode_typed_payload as encode_typed_payload
from ._rate_limit import RateLimit as RateLimit
from ._rate_limit import Window as Window

__all__ = (
    "NO_ORIGIN",
    "PAYLOAD_DECODINGS",
    "Acknowledge",
    "AsyncSink",
    "AsyncSource",
    "Batch",
    "BlockingSink",
    "BlockingSource",
    "Close",
    "Command",
    "Commit",
    "Cycle",
    "Driver",
    "ExecutorLink",
    "Flush",
    "Held",
    "IOSource",
    "Ledger",
    "Load",
    "Mark",
    "Offload",
    "Open",
    "Origin",
    "RateLimit",
    "Read",
    "ReadResult",
    "Received",
    "Rejected",
    "RunMachine",
    "Serve",
    "Step",
    "StopServing",
    "Window",
    "Work",
    "current_origin",
    "decode_payload",
    "encode_payload",
    "encode_typed_payload",
    "flush_is_noop",
    "has_serve",
    "hold",
    "is_async_cycle",
    "not_served_error",
    "running",
    "step_mode",
)
