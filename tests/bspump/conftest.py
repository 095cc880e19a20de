"""The seed's BSPump examples are programs the tests run, not test modules to import."""

collect_ignore = ["examples"]
