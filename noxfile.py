"""Developer sessions: tests, typecheck, lint, bench, and tests without trio installed."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "tests_without_trio"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_without_trio(session: nox.Session) -> None:
    """The core and the sync executor with trio absent: it must stay an optional extra."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pip", "uninstall", "--yes", "trio", success_codes=[0, 1])
    session.run(
        "pytest", "-m", "not needs_trio", "tests/core", "tests/executors",
        "tests/test_sync_executor.py", "tests/test_exports.py", "tests/test_purity.py",
    )  # fmt: skip


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package, the tests and the benchmark."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff's lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark: pumpcore against a plain loop doing the same work, in one run."""
    session.install("-e", ".[dev]")
    session.run("python", "bench/bench.py", *session.posargs)
