"""BSPump's signatures, config rules, coroutine sources and registries on pumpcore."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pumpcore_bspump as bspump
import pumpcore_executors
import pytest
from pumpcore_bspump import BSPumpApplication
from pumpcore_bspump.common import IteratorSource, ListSink
from pumpcore_executors import ExecutorName

import pumpcore
from pumpcore import ConfigError, Context, Settings
from pumpcore.lookup import MappingLookup
from pumpcore.testing import conformance

from ..executors.conftest import run_kwargs

HINT = "BSPump passes `app` first"


def app_with(config: str = "") -> BSPumpApplication:
    app = BSPumpApplication(args=[])
    app.Settings = Settings.from_ini(config)
    return app


def test_a_mechanical_port_to_pumpcore_says_what_is_wrong() -> None:
    class SamplePipeline(pumpcore.Pipeline):
        def __init__(self, app: Any, pipeline_id: str) -> None:
            super().__init__(app, pipeline_id)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match=r"SamplePipeline: id must be a str, got <object") as e:
        SamplePipeline(object(), "SamplePipeline")
    assert HINT in str(e.value)
    with pytest.raises(ConfigError, match="config must be a mapping, got 'SamplePipeline'"):
        pumpcore.Pipeline(None, "SamplePipeline")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Processor: pipeline must be a Pipeline, got 'app'"):
        pumpcore.Processor("app", None)  # type: ignore[arg-type]


def test_bspump_arguments_in_the_wrong_place_are_named() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    with pytest.raises(ConfigError, match=r"the first argument is the application, got the pip"):
        bspump.common.PPrintSink(pipeline)
    with pytest.raises(ConfigError, match=r"`pipeline` must be a Pipeline, got 'P'; pass `app`"):
        bspump.Processor(app, "P")
    with pytest.raises(ConfigError, match=r"`config` must be a dict, got 'x'"):
        bspump.Processor(app, pipeline, "id", "x")
    with pytest.raises(ConfigError, match=r"3 positional arguments after `pipeline`, at most 2"):
        bspump.Sink(app, pipeline, "id", {}, "extra")
    with pytest.raises(ConfigError, match=r"got the id 'P' in place of the application"):
        bspump.Pipeline("P")
    with pytest.raises(ConfigError, match=r"got 5 in place of the application"):
        bspump.trigger.RunOnceTrigger(5)


def test_positional_id_and_config_as_bspump() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    sink = bspump.common.PPrintSink(app, pipeline, "Out", {})
    assert (sink.Id, sink.App, sink.Pipeline) == ("Out", app, pipeline)
    source = IteratorSource(app, pipeline, [1, 2], "Numbers")
    assert source.Id == "Numbers"


def test_undeclared_keys_a_bspump_component_reads_are_accepted() -> None:
    app = app_with(
        "[pipeline:P]\nurl = http://x/{api_key}\napi_key = k\n[pipeline:P:Enrich]\nrate = 113.7\n"
    )

    class Enrich(bspump.Processor):
        def process(self, context: Context, event: Any) -> Any:
            return event * float(self.Config["rate"])

    class P(bspump.Pipeline):
        def __init__(self, app: Any, pipeline_id: str) -> None:
            super().__init__(app, pipeline_id)
            self.Url = self.Config["url"].format(api_key=self.Config["api_key"])
            self.Sink = ListSink(app, self)
            self.build(IteratorSource(app, self, [1, 2]), Enrich(app, self), self.Sink)

    pipeline = P(app, "P")
    assert pipeline.Url == "http://x/k"
    pumpcore_executors.run(pipeline, **run_kwargs("sync"))
    assert pipeline.Sink.Events == [113.7, 227.4]


def test_ready_made_components_still_name_an_unknown_key() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    with pytest.raises(ConfigError, match=r"HTTPClientSource 'HTTPClientSource': unknown config"):
        bspump.http.HTTPClientSource(app, pipeline, config={"ulr": "http://x"})


class Counting(bspump.Source):
    """BSPump's Source.main, as its docs write it."""

    async def main(self) -> None:
        pipeline = self.Pipeline
        assert isinstance(pipeline, bspump.Pipeline)
        for n in range(5):
            await pipeline.ready()
            await self.process(n, {"n": n})


def test_source_main_runs_on_asyncio_and_is_exhausted_when_it_returns() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    sink = ListSink(app, pipeline, keep_contexts=True)
    pipeline.build(Counting(app, pipeline), sink)
    report = pumpcore_executors.run(pipeline, executor="asyncio", **run_kwargs("asyncio"))
    assert sink.Events == [0, 1, 2, 3, 4]
    assert [c["n"] for c in sink.Contexts] == [0, 1, 2, 3, 4]
    assert report.statistics["P"].event_in == 5


class WaitsForReady(bspump.TriggerSource):
    Waited = 0.0

    async def cycle(self) -> None:
        pipeline = self.Pipeline
        assert pipeline is not None
        pipeline.throttle("test", True)

        async def release() -> None:
            await anyio.sleep(0.2)
            pipeline.throttle("test", False)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(release)
            started = time.monotonic()
            await self.process("event")  # waits for ready
            self.Waited = time.monotonic() - started


def test_trigger_source_process_waits_until_the_pipeline_is_ready() -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    sink = ListSink(app, pipeline)
    source = WaitsForReady(app, pipeline)
    pipeline.build(source.on(bspump.trigger.RunOnceTrigger(app)), sink)
    pumpcore_executors.run(pipeline, executor="asyncio", **run_kwargs("asyncio"))
    assert sink.Events == ["event"]
    assert 0.19 <= source.Waited < 10  # it waited for the release, however slow the machine


@pytest.mark.parametrize(
    "executor", [p for p in conformance.executor_params() if p.id not in ("asyncio",)]
)
def test_coroutine_sources_elsewhere_say_they_need_asyncio(executor: ExecutorName) -> None:
    app = app_with()
    pipeline = bspump.Pipeline(app, "P")
    pipeline.build(WaitsForReady(app, pipeline).on(bspump.trigger.RunOnceTrigger(app)), ListSink())
    if executor in ("sync", "threads"):
        with pytest.raises(TypeError, match="WaitsForReady"):
            pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
        return
    report = pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert "`cycle` is an asyncio coroutine, as BSPump's are; run it on the asyncio executor" in (
        str(report.errors["P"])
    )


def test_a_blocking_cycle_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"Blocking\.cycle must be an `async def`, as in BSPump"):

        class Blocking(bspump.TriggerSource):
            def cycle(self) -> None:
                pass


def test_pump_service_registries() -> None:
    app = app_with()
    svc = app.get_service("bspump.PumpService")
    assert svc is app.PumpService
    first, second = bspump.Pipeline(app, "First"), bspump.Pipeline(app, "Second")
    first.build(IteratorSource(app, first, []), ListSink(app, first, id="OutSink"))
    svc.add_pipelines(first, second)
    located = svc.locate("First.*Sink")
    assert located is not None
    assert located.Id == "OutSink"
    assert svc.locate("Second") is second
    svc.del_pipeline("Second")
    assert sorted(svc.Pipelines) == ["First"]

    class Connection:
        Id = "ESConnection"

    connection = svc.add_connection(Connection())
    assert svc.locate_connection("ESConnection") is connection
    assert svc.locate_connection(connection) is connection
    with pytest.raises(ConfigError, match="two connections with id 'ESConnection'"):
        svc.add_connection(Connection())
    with pytest.raises(KeyError, match=r"no connection 'Kafka' \(known: ESConnection\)"):
        svc.locate_connection("Kafka")
    matrix = svc.add_matrix(type("M", (), {"Id": "Matrix"})())
    assert svc.locate_matrix("Matrix") is matrix
    lookup = MappingLookup(id="Colors")
    svc.add_lookups(lookup)
    assert svc.locate_lookup("Colors") is lookup
    assert svc.Lookups == {"Colors": lookup}
    with pytest.raises(KeyError, match="no service 'nope'"):
        app.get_service("nope")


def test_unwritten_modules_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from pumpcore_bspump import _later

    monkeypatch.setitem(_later.LATER, "cassandra", ("pumpcore_cassandra", "cassandra"))
    with pytest.raises(ImportError, match=r"bspump\.cassandra needs pumpcore's adapter package"):
        bspump.cassandra  # noqa: B018
    with pytest.raises(ImportError, match=r"'pumpcore_cassandra'.*pumpcore\[cassandra\]"):
        from pumpcore_bspump import cassandra  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'kafak'"):
        bspump.kafak  # noqa: B018
    assert bspump.kafka.KafkaSource.__module__ == "pumpcore_bspump.kafka"


def test_pubsub_trigger_uses_the_application_pubsub() -> None:
    app = app_with()
    trigger = bspump.trigger.PubSubTrigger(app, "go!")
    assert trigger.pubsub is app.PubSub
    assert trigger.message_names == ("go!",)


def test_file_source_and_generator_with_bspump_signatures(
    tmp_path: Path, executor: ExecutorName
) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"a b\nc\n")
    app = app_with()

    class Words(bspump.Generator):
        def generate(self, context: Context, event: Any) -> Any:
            yield from event.split()

    pipeline = bspump.Pipeline(app, "P")
    sink = ListSink(app, pipeline)
    source = bspump.file.FileLineSource(
        app, pipeline, config={"path": str(lines), "post": "noop", "watch": False}
    )
    pipeline.build(
        source, bspump.common.BytesToStringParser(app, pipeline), Words(app, pipeline), sink
    )
    pumpcore_executors.run(pipeline, executor=executor, **run_kwargs(executor))
    assert sink.Events == ["a", "b", "c"]


def test_an_installed_adapter_without_signatures_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pumpcore_bspump import _later

    monkeypatch.setitem(_later.LATER, "cassandra", ("json", "cassandra"))  # an installed package
    with pytest.raises(ImportError, match=r"bspump\.cassandra: 'json' is installed but its BSPump"):
        bspump.cassandra  # noqa: B018
