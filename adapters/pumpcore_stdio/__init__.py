"""Standard streams: print events or contexts to a text stream, read lines from standard input.

BSPump kept its print components in ``bspump.common``; they live here because they do I/O, which
the pure core does not.

Duplicates after a crash: standard input cannot be read again, so the stdin source carries no
positions: a crash loses the lines read and not yet written, and never duplicates one. The print
sinks write on flush, before the sources acknowledge, so they print again whatever an upstream
source replays: at most its in-flight window (``commit_every`` positions rounded up to whole
batches, 1,024 with the defaults).
"""

from ._print import PPrintContextProcessor as PPrintContextProcessor
from ._print import PPrintProcessor as PPrintProcessor
from ._print import PPrintSink as PPrintSink
from ._print import PrintContextProcessor as PrintContextProcessor
from ._print import PrintProcessor as PrintProcessor
from ._print import PrintSink as PrintSink
from ._stdin import StdinLineSource as StdinLineSource

__all__ = (
    "PPrintContextProcessor",
    "PPrintProcessor",
    "PPrintSink",
    "PrintContextProcessor",
    "PrintProcessor",
    "PrintSink",
    "StdinLineSource",
)
