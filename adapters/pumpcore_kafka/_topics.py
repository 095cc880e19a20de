"""Topic lists as config gives them: a list, or a comma-separated string; ``topic:partition``
names one partition."""

from __future__ import annotations

from pumpcore import ConfigError


def parse_topics(owner: str, key: str, value: object) -> list[tuple[str, int | None]]:
    """``[(topic, partition or None), ...]`` from ``"a, b:0"`` or ``["a", "b:0"]``.

    Raises:
        ConfigError: no topic, an empty name, or a partition that is not a number >= 0.
    """
    if isinstance(value, str):
        items = value.split(",") if value.strip() else []
    elif isinstance(value, list | tuple):
        items = [str(item) for item in value]
    else:
        items = []
    out: list[tuple[str, int | None]] = []
    for item in (i.strip() for i in items):
        name, sep, partition = item.rpartition(":") if ":" in item else (item, "", "")
        if not name.strip():
            raise ConfigError(f"{owner}: config key {key!r} holds an empty topic name: {value!r}")
        if not sep:
            out.append((name.strip(), None))
            continue
        if not partition.strip().isdigit():
            raise ConfigError(
                f"{owner}: config key {key!r}: partition of {item!r} is not a number >= 0"
            )
        out.append((name.strip(), int(partition)))
    if not out:
        raise ConfigError(
            f"{owner}: config key {key!r} names no topic, got {value!r}; give a topic, a "
            "comma-separated list of them, or topic:partition"
        )
    return out
