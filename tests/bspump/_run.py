"""Running a pump program as the seed's tutorials do (``python pump.py -c x.conf``), until it
printed what the test waits for, then stopping it with SIGTERM as an operator would."""

from __future__ import annotations

import os
import shutil
import signal
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


@attrs.frozen
class Finished:
    """What a pump program did: its exit code and its output."""

    returncode: int
    stdout: str
    stderr: str


def copy_examples(target: Path, address: str) -> Path:
    """Copy the examples to ``target``, pointing their URLs at ``address``."""
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*"):
        if path.suffix in (".py", ".conf"):
            path.write_text(path.read_text(encoding="utf-8").replace(PLACEHOLDER, address))
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
