"""The seed's tutorials, copied with only the import line changed (and public URLs pointed at
local stand-ins), run as programs and print what the seed says they print.

Examples whose code is only asyncio (an ``async def cycle`` on aiohttp) run on asyncio; on the
other executors the application must refuse to start, naming the source. A few cannot work as
written: each test says why in its xfail reason, after checking that it fails for that reason.
"""

from __future__ import annotations

import copy
import json
import pprint
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pumpcore.testing import conformance

from . import _apis
from ._run import Finished, copy_examples, run_pump

EXECUTORS = conformance.executor_params()


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The examples in a temporary folder, their URLs pointing at the running stand-ins."""
    with _apis.public_apis() as address:
        yield copy_examples(tmp_path_factory.mktemp("bspump") / "examples", address)


def printed(value: object) -> str:
    """What ``PPrintSink`` prints for ``value``."""
    return pprint.pformat(value) + "\n"


def enriched() -> dict[str, Any]:
    """The coindesk document with the tutorial's JPY branch (``EnrichProcessor``)."""
    document = copy.deepcopy(_apis.COINDESK)
    jpy = str(document["bpi"]["USD"]["rate_float"] * 113.70)
    document["bpi"]["JPY"] = {
        "code": "JPY",
        "symbol": "¥",
        "rate": jpy[:3] + "," + jpy[3:],
        "description": "JPY",
        "rate_float": jpy,
    }
    return document


def run_until_printed(script: Path, expected: str, *args: str) -> Finished:
    """Run the pump until ``expected`` is on its stdout, then stop it; it must end cleanly."""
    done = run_pump(script, args, until=lambda out, err: expected in out)
    assert expected in done.stdout, done.stderr
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    return done


COINDESK_BYTES = json.dumps(_apis.COINDESK).encode()

# Examples without asyncio-only code: (script, config file or None, what stdout shows).
EVERYWHERE = {
    "coindesk": ("coindesk.py", None, printed(COINDESK_BYTES)),
    "coindesk_enrich": ("coindesk_enrich.py", None, printed(enriched())),
    "weather": ("weather.py", None, printed(json.dumps(_apis.weather("London")).encode())),
    "config_quickstart": (
        "config_quickstart.py",
        "config_quickstart.conf",
        printed(_apis.weather("London")),
    ),
    "fortnite": (
        "fortnite.py",
        "fortnite.conf",
        printed(json.dumps(_apis.STORE, indent=2).replace("\n", "\r\n").encode()),
    ),
    "blank_app": ("blankapp/bspump-blank-app.py", None, printed(json.dumps(enriched()))),
}


@pytest.mark.parametrize("name", sorted(EVERYWHERE))
@pytest.mark.parametrize("executor", EXECUTORS)
def test_example_runs_on_every_executor(examples: Path, name: str, executor: str) -> None:
    script, config, expected = EVERYWHERE[name]
    args = ["--executor", executor] + (["-c", config] if config else [])
    done = run_until_printed(examples / script, expected, *args)
    assert f"1 pipeline(s) ready (executor {executor})" in done.stderr


# Examples with an asyncio `async def cycle` (aiohttp): (script, config, what stdout shows).
ASYNCIO_ONLY = {
    "weather_cities": (
        "weather_cities.py",
        "weather-pump.conf",
        "".join(printed(json.dumps(_apis.weather(c)).encode()) for c in _apis.CITIES),
        "SamplePipeline.LoadSource",
    ),
    "tarkov": ("tarkov.py", None, printed(_apis.CRAFTS), "SamplePipeline.IOHTTPSource"),
}


@pytest.mark.parametrize("name", sorted(ASYNCIO_ONLY))
@pytest.mark.parametrize("executor", EXECUTORS)
def test_asyncio_example(examples: Path, name: str, executor: str) -> None:
    script, config, expected, source = ASYNCIO_ONLY[name]
    args = ["--executor", executor] + (["-c", config] if config else [])
    if executor == "asyncio":
        run_until_printed(examples / script, expected, *args)
        return
    done = run_pump(examples / script, args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{source} run(s) `async def` code written for asyncio" in done.stderr
    assert "use --executor asyncio" in done.stderr


def run_failing(script: Path, message: str, *args: str) -> Finished:
    """Run the pump until ``message`` (the failure it logs) is on its stderr, then stop it."""
    done = run_pump(script, args, until=lambda out, err: message in err)
    assert message in done.stderr, done.stderr
    return done


# The seed's pandas code: (script, args, the failure it logs, the failing step, why).
OLD_PANDAS = {
    "tarkov_final": (
        "tarkov_final.py", [], "'DataFrame' object has no attribute 'append'", "FilterByStation",
        "the seed's FilterByStation calls DataFrame.append, removed in pandas 2.0",
    ),
    "fortnite_csv": (
        "fortnite_csv.py", ["-c", "fortnite.conf"], "Expected file path name or file-like object",
        "JSONtoCSV", "the seed's JSONtoCSV passes bytes to pandas.read_json, refused by pandas 3",
    ),
    "fortnite_coef": (
        "fortnite_coef.py", ["-c", "fortnite.conf"], "Expected file path name or file-like object",
        "AddRarityPriceCoef",
        "the seed's AddRarityPriceCoef passes bytes to pandas.read_json, refused by pandas 3",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OLD_PANDAS))
def test_pandas_examples_need_old_pandas(examples: Path, name: str) -> None:
    script, args, message, step, why = OLD_PANDAS[name]
    done = run_failing(examples / script, message, *args)
    assert f"SamplePipeline stopped by an error: {step}" in done.stderr
    assert done.returncode == 1
    pytest.xfail(why)


def test_websocket_server_needs_its_listen_address(examples: Path) -> None:
    done = run_pump(examples / "websocket_server.py")
    assert done.returncode == 1
    assert "BSPumpApplication has no WebContainer (ASAB's aiohttp server)" in done.stderr
    pytest.xfail("uses ASAB's web container (aiohttp), which pumpcore_bspump has not")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_websocket_client_feeds_the_ported_server(examples: Path, executor: str) -> None:
    expected = printed(COINDESK_BYTES)  # the sink sends bytes as a binary message
    clients: list[subprocess.Popen[str]] = []

    def started_client_and_got(out: str, err: str) -> bool:
        if not clients and "pipeline(s) ready" in err:
            clients.append(
                subprocess.Popen(
                    [sys.executable, "websocket_client.py", "--executor", executor],
                    cwd=examples,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        return expected in out

    try:
        server = run_pump(
            examples / "websocket_server_ported.py", ["--executor", executor],
            until=started_client_and_got,
        )  # fmt: skip
    finally:
        for client in clients:
            client.send_signal(signal.SIGTERM)
            _, client_err = client.communicate(timeout=15)
    assert server.returncode == 0, server.stderr
    assert server.stdout.startswith(expected), server.stderr
    [client] = clients
    assert client.returncode == 0, client_err


@pytest.mark.parametrize("executor", EXECUTORS)
def test_tcp_blank_app_answers_in_shakespeare(examples: Path, executor: str) -> None:
    pipeline = (examples / "tcpapp" / "tcppipeline" / "pipeline.py").read_text()
    port = int(re.search(r'"port": (\d+)', pipeline).group(1))  # type: ignore[union-attr]
    sent: list[bool] = []

    def send_when_listening(out: str, err: str) -> bool:
        if not sent and "pipeline(s) ready" in err:
            for _ in range(100):  # the listener opens as the run starts
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                        client.sendall(b"die\nbe\n")
                    break
                except ConnectionRefusedError:
                    time.sleep(0.05)
            sent.append(True)
        return "'To be, or not to be?'" in err

    done = run_pump(
        examples / "tcpapp" / "bspump-tcp-app.py", ["--executor", executor],
        until=send_when_listening,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'To die, or not to die?'\n'To be, or not to be?'\n" in done.stderr
