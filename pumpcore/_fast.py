"""The hot loop of a pipeline whose steps are all synchronous, generated for each pipeline so
that every step is called from a call site of its own.

Why generated: CPython (3.11+) specializes a call site for the one function it calls. A loop
calling every step from one site (``for step in steps: event = step(context, event)``) misses
that on every call and takes the generic path, a new interpreter frame through C: 1,100 of the
13,700 instructions per event of the file benchmark (``bench/io_sources.py --instructions``,
three processors and a sink). With one site per step, each call stays on the fast path.

Rules:
1. ``run(pipeline, items, failed)`` takes events (``fresh``: each gets a ``{}`` context, made
   inline, a third of the cost of one drawn from an iterator) or ``(event, context)`` pairs, and
   returns the counts ``(out, dropped, failed)``.
2. Before each event it reads ``pipeline._ready``: false stops taking (throttled mid-batch).
3. A step returning None drops the event; the last step is the sink. Drops are counted per
   step, on the drop path only (a local per step), and added to ``drops[step]`` when the loop
   ends: per-component counts cost the happy path nothing.
4. A step that raises calls ``failed(index, exception, context, event)`` with that step's index
   (found from the line the traceback names, so the happy path keeps no index); a true answer
   stops the loop (the pipeline's intake stopped). Only ``Exception`` is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

FastLoop = Callable[[Any, Iterable[Any], Callable[..., bool]], tuple[int, int, int]]


def fast_loop(steps: Sequence[Callable[..., Any]], drops: list[int], *, fresh: bool) -> FastLoop:
    """The loop of rule 1 over ``steps`` (processors, then the sink; at least the sink); the
    drops of step ``i`` are added to ``drops[i]`` (rule 3)."""
    last = len(steps) - 1
    lines = [
        f"def make(step_at, drops, {', '.join(f's{i}' for i in range(last + 1))}):",
        "    def run(pipeline, items, failed):",
        f"        n_out = n_fail = {''.join(f'd{i} = ' for i in range(last))}0",
        "        for event in items:" if fresh else "        for event, context in items:",
        "            if not pipeline._ready:",
        "                break",
        *(["            context = {}"] if fresh else []),
        "            try:",
    ]
    # Rule 4 without bookkeeping on the happy path: the failing step is the one called on the
    # line the traceback stops at, in this frame.
    step_at: dict[int, int] = {}
    for i in range(last):
        step_at[len(lines) + 1] = i
        lines += [
            f"                event = s{i}(context, event)",
            "                if event is None:",
            f"                    d{i} += 1",
            "                    continue",
        ]
    step_at[len(lines) + 1] = last
    lines += [
        f"                s{last}(context, event)",
        "                n_out += 1",
        "            except Exception as exc:",
        "                n_fail += 1",
        "                if failed(step_at[exc.__traceback__.tb_lineno], exc, context, event):",
        "                    break",
        f"        n_drop = {' + '.join(f'd{i}' for i in range(last)) or '0'}",
        *(["        if n_drop:"] if last else []),
        *(f"            drops[{i}] += d{i}" for i in range(last)),
        "        return n_out, n_drop, n_fail",
        "    return run",
    ]
    namespace: dict[str, Any] = {}
    code = compile("\n".join(lines), f"<pumpcore fast loop, {last + 1} steps>", "exec")
    exec(code, namespace)
    loop: FastLoop = namespace["make"](step_at, drops, *steps)
    return loop
