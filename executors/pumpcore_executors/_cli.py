"""The ``pumpcore`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._run import EXECUTORS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pumpcore`` command."""
    parser = argparse.ArgumentParser(prog="pumpcore", description="Run pumpcore pumps.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a demo pump on bundled web-access logs")
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("demo-output/windows.jsonl"),
        help="where the per-minute windows are written (default: %(default)s)",
    )  # fmt: skip
    demo.add_argument("--executor", choices=EXECUTORS, default="sync")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(args.output, args.executor, out=sys.stdout)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
