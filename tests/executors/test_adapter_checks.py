"""``pumpcore.testing.conformance.check_source``/``check_sink`` on a pure in-memory source and
sink (the example an adapter author starts from), on every executor; and that the checks catch
an adapter that breaks the contract."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from pumpcore_executors import ExecutorName

from pumpcore import BlockingSink, BlockingSource, Context, Received
from pumpcore.testing import conformance

pytestmark = pytest.mark.timeout(60)


class Log:
    """The backing store: records (bytes), and the committed offset (as a broker keeps it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[bytes] = []
        self.committed = 0
        self.next_value = 0

    def append(self, count: int) -> list[int]:
        values = list(range(self.next_value, self.next_value + count))
        self.next_value += count
        with self.lock:
            self.records += [str(v).encode() for v in values]
        return values


class LogSource(BlockingSource):
    """Reads int records from the committed offset on; a record that is no int is skipped and
    counted (``bad_records``), and the read raises once what came before it was returned. A
    position is the offset after its record: acknowledging it commits everything before."""

    def __init__(self, log: Log) -> None:
        super().__init__(config={"retry_delay": 0})  # bad input is not a broken connection
        self.log = log
        self.offset = 0
        self.bad_records = 0

    def open(self) -> None:
        self.offset = self.log.committed

    def read(self, max_items: int) -> Sequence[Received] | None:
        out: list[Received] = []
        with self.log.lock:
            records = self.log.records
            while self.offset < len(records) and len(out) < max_items:
                record = records[self.offset]
                try:
                    value = int(record)
                except ValueError:
                    if out:
                        break  # returned first; the next read raises
                    self.offset += 1
                    self.bad_records += 1
                    raise ValueError(f"record {self.offset - 1} is no int: {record!r}") from None
                self.offset += 1
                out.append(Received(value, position=self.offset))
        return out or None

    def acknowledge(self, positions: Sequence[Any]) -> None:
        with self.log.lock:
            self.log.committed = positions[-1]


class TopicSink(BlockingSink):
    """Buffers in ``process``; ``flush`` appends the buffer to ``store``."""

    def __init__(self, store: list[Any], lose_on_flush: bool = False) -> None:
        super().__init__()
        self.store, self.buffer = store, list[Any]()
        self.lose_on_flush = lose_on_flush

    def process(self, context: Context, event: Any) -> None:
        self.buffer.append(event)

    def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        if not self.lose_on_flush:
            self.store.extend(batch)

    def close(self) -> None:
        self.store.extend(self.buffer)  # too late: the positions were acknowledged already
        self.buffer = []


def test_check_source_on_an_in_memory_source(executor: ExecutorName) -> None:
    log = Log()

    def make_bad_input() -> None:
        with log.lock:
            log.records.append(b"not a number")

    result = conformance.check_source(
        lambda: LogSource(log), log.append, executor, make_bad_input=make_bad_input
    )
    assert 0 < result.acknowledged <= 100
    assert result.replayed == 300 - result.acknowledged  # the rest, and 100 new
    assert result.bad_input_failures == 1
    last = result.sources[-1]
    assert isinstance(last, LogSource)
    assert last.bad_records == 1


def test_check_sink_on_an_in_memory_sink(executor: ExecutorName) -> None:
    store: list[Any] = []
    result = conformance.check_sink(lambda: TopicSink(store), lambda: list(store), executor)
    assert result.flushes >= 2
    assert result.acknowledgements >= 2
    assert store == [{"seq": i} for i in range(450)]


class ForgetfulSource(LogSource):
    """Acknowledges nothing for good: a restart replays everything."""

    def acknowledge(self, positions: Sequence[Any]) -> None:
        pass


class EagerSource(LogSource):
    """Commits what it *read* (auto-commit): a restart skips what was read but not done."""

    def read(self, max_items: int) -> Sequence[Received] | None:
        items = super().read(max_items)
        if items:
            self.log.committed = items[-1].position
        return items

    def acknowledge(self, positions: Sequence[Any]) -> None:
        pass


@pytest.mark.parametrize(
    ("source_class", "message"),
    [(ForgetfulSource, "after a restart"), (EagerSource, "after a restart")],
)
def test_check_source_catches_a_source_that_does_not_resume_where_acknowledged(
    source_class: type[LogSource], message: str
) -> None:
    log = Log()
    with pytest.raises(AssertionError, match=message):
        conformance.check_source(lambda: source_class(log), log.append, "sync")


def test_check_sink_catches_a_sink_whose_flush_does_not_write() -> None:
    store: list[Any] = []
    with pytest.raises(AssertionError, match="before they were durable"):
        conformance.check_sink(lambda: TopicSink(store, lose_on_flush=True), lambda: list(store))


def test_check_source_catches_a_source_that_closes_twice() -> None:
    log = Log()

    class ClosesTwice(LogSource):
        def close(self) -> None:
            self.closes = getattr(self, "closes", 0) + 1
            if self.closes == 1:
                self.close()

    with pytest.raises(AssertionError, match="closed 2 times"):
        conformance.check_source(lambda: ClosesTwice(log), log.append, "sync")
