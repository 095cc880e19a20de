"""The ``pumpcore`` command: ``pumpcore run my_pump.py [-c pump.conf] [--executor trio]`` (or a
BSPump application file, or a ``pump.yaml`` definition) and ``pumpcore demo``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pumpcore import ConfigError, Settings, check_settings

from ._run import EXECUTORS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pumpcore", description="Run pumpcore pumps.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a pump file, a BSPump application file or a YAML/JSON definition"
    )
    run.add_argument(
        "pump_file", type=Path,
        help="a .py file defining pipelines, a program with a __main__ block (a BSPump "
        "application: -c, --executor and --stop-after are passed to it), or a .yaml/.yml/.json "
        "pump definition",
    )  # fmt: skip
    run.add_argument(
        "-c", "--config", type=Path, action="append", default=[],
        help="an INI config file ([pipeline:ID], [pipeline:ID:ComponentID], …); repeatable",
    )  # fmt: skip
    run.add_argument(
        "--strict-config", action="store_true",
        help="refuse config sections naming a pipeline or component the pump file lacks "
        "(default: warn)",
    )  # fmt: skip
    run.add_argument(
        "--executor", choices=EXECUTORS, default=None,
        help="default: sync (a program's own default for a BSPump application file)",
    )  # fmt: skip
    run.add_argument("--stop-after", type=float, default=None, metavar="SECONDS")
    run.add_argument(
        "--status", choices=("auto", "always", "never"), default="auto",
        help="live status line on stderr (auto: when stderr is a terminal)",
    )  # fmt: skip
    demo = commands.add_parser("demo", help="run a demo pump on bundled web-access logs")
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("demo-output/windows.jsonl"),
        help="where the per-minute windows are written (default: %(default)s)",
    )  # fmt: skip
    demo.add_argument("--executor", choices=EXECUTORS, default="sync")
    return parser


def _run_command(args: argparse.Namespace) -> int:
    from ._load import load_settings, pump_folder_on_path

    settings = load_settings(args.config)
    with pump_folder_on_path(args.pump_file):
        return _run_pump(args, settings)


def _run_pump(args: argparse.Namespace, settings: Settings) -> int:
    from ._declarative import SUFFIXES, load_definition
    from ._load import NoPipelineError, is_program, load_pump, run_program
    from ._run import run
    from ._status import StatusLine

    try:
        if args.pump_file.suffix in SUFFIXES:
            pipelines = load_definition(args.pump_file, settings)
            check_settings(settings, pipelines, strict=args.strict_config)
        else:
            pipelines = load_pump(args.pump_file, settings, strict_config=args.strict_config)
    except NoPipelineError:
        if not is_program(args.pump_file):
            raise
        argv = [a for path in args.config for a in ("-c", str(path))]
        if args.executor is not None:  # else the program's own default (BSPump's: asyncio)
            argv += ["--executor", args.executor]
        if args.stop_after is not None:
            argv += ["--stop-after", str(args.stop_after)]
        return run_program(args.pump_file, argv)
    show = args.status == "always" or (args.status == "auto" and sys.stderr.isatty())
    status = StatusLine(pipelines, sys.stderr) if show else contextlib.nullcontext()
    with status:
        report = run(*pipelines, executor=args.executor or "sync", stop_after=args.stop_after)
    for pid, stats in report.statistics.items():
        counters = ", ".join(f"{k} {v:,}" for k, v in stats.as_dict().items() if v)
        print(f"{pid}: {counters or 'no events'}", file=sys.stderr)
    for pid, error in report.errors.items():
        print(f"{pid} stopped by an error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pumpcore`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.command == "run":
            return _run_command(args)
        from ._demo import run_demo

        return run_demo(args.output, args.executor, out=sys.stdout)
    except ConfigError as exc:
        print(f"pumpcore: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
