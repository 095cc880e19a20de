"""Running a pump program as the seed's tutorials do (``python pump.py -c x.conf``), until it
printed what the test waits for, then stopping it with SIGTERM as an operator would."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

EXAMPLES = Path(__file__).parent / "examples"
# Where the examples' URLs point; replaced by the stand-in server's address when copied.
PLACEHOLDER = "127.0.0.1:18080"
# Where the WebSocket examples listen and connect; replaced by a free port's address.
WS_PLACEHOLDER = "127.0.0.1:18081"
# The port the TCP example listens on (the seed's 8888); replaced by a free port.
TCP_PLACEHOLDER = '"port": 18082'


def free_address() -> str:
    """``127.0.0.1:PORT`` of a port free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@attrs.frozen
class Finished:
    """What a pump program did: its exit code and its output."""

    returncode: int
    stdout: str
    stderr: str


def copy_examples(target: Path, address: str) -> Path:
    """Copy the examples to ``target``, pointing their URLs at ``address`` (and the WebSocket
    ones at a free port)."""
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    websocket = free_address()
    tcp_port = free_address().rpartition(":")[2]
    for path in target.rglob("*"):
        if path.suffix in (".py", ".conf"):
            text = path.read_text(encoding="utf-8")
            text = text.replace(PLACEHOLDER, address).replace(WS_PLACEHOLDER, websocket)
            text = text.replace(TCP_PLACEHOLDER, f'"port": {tcp_port}')
            path.write_text(text)
    return target


def run_pump(
    script: Path,
    args: Sequence[str] = (),
    until: Callable[[str, str], bool] = lambda out, err: False,
    timeout: float = 30.0,
) -> Finished:
    """Run ``python script args`` in its folder; once ``until(stdout, stderr)`` holds (or the
    program ended, or ``timeout`` passed), send SIGTERM and collect what it printed."""
    process = subprocess.Popen(
        [sys.executable, script.name, *args],
        cwd=script.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def drain(name: str) -> None:
        stream = process.stdout if name == "out" else process.stderr
        assert stream is not None
        for line in stream:
            chunks[name].append(line)

    readers = [threading.Thread(target=drain, args=(n,), daemon=True) for n in chunks]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if until("".join(chunks["out"]), "".join(chunks["err"])):
                break
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for reader in readers:
        reader.join(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return Finished(process.returncode, "".join(chunks["out"]), "".join(chunks["err"]))
