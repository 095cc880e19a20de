"""The seed's BSPump examples are programs the tests run, not test modules to import; the
``executor`` fixture is the executors' own."""

from ..executors.conftest import executor as executor

collect_ignore = ["examples"]
