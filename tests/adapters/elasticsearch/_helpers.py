"""What the Elasticsearch tests share: running a pipeline into a sink, a dead-letter sink."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pumpcore_executors
from pumpcore_elasticsearch import ElasticSearchConnection

from pumpcore import BlockingSink, Context, Failure, Pipeline, Sink, Source
from pumpcore.common import IteratorSource

from ._cluster import Cluster


def run_kwargs(executor: str) -> dict[str, Any]:
    """``pumpcore_executors.run``'s keywords: the loop watchdog on async executors."""
    if executor in ("asyncio", "trio"):
        return {"blocking_threshold": 0.5, "handle_signals": False}
    return {"handle_signals": False}


def connect(cluster: Cluster | str, **config: Any) -> ElasticSearchConnection:
    """A connection with short chill-downs."""
    url = cluster if isinstance(cluster, str) else cluster.url
    return ElasticSearchConnection(
        config={"url": url, "fail_chilldown": 0.02, "max_chilldown": 0.2, **config}
    )


def run(
    sink: Sink,
    events: Iterable[Any] | Source,
    executor: str,
    *,
    policy: Any = "soft",
    contexts: Iterable[Context] | None = None,
) -> tuple[pumpcore_executors.RunReport, list[Failure]]:
    """Run ``events`` (or a source) into ``sink``; the report and the failures heard."""
    p = Pipeline("ES", error_policy=policy)
    source = events if isinstance(events, Source) else IteratorSource(list(events))
    if contexts is not None:
        given = iter(contexts)

        def with_context(context: Context, event: Any) -> Any:
            context.update(next(given))  # the next event's context keys (es_index)
            return event

        p.build(source, with_context, sink)
    else:
        p.build(source, sink)
    failures: list[Failure] = []
    p.add_failure_listener(failures.append)
    report = pumpcore_executors.run(p, executor=executor, **run_kwargs(executor))  # type: ignore[arg-type]
    return report, failures


class DeadLetters(BlockingSink):
    """A dead-letter sink that keeps what was flushed (``durable``) apart from what waits."""

    def __init__(self) -> None:
        super().__init__(id="DeadLetters")
        self.waiting: list[Failure] = []
        self.durable: list[Failure] = []
        self.flushes = 0

    def process(self, context: Context, event: Failure) -> None:
        self.waiting.append(event)

    def flush(self) -> None:
        self.durable += self.waiting
        self.waiting = []
        self.flushes += 1
