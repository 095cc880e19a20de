"""BSPump's data feeders: how an event becomes a bulk item (an action line and its body).

A data feeder takes the event and returns the item's NDJSON lines as ``bytes`` (each line ending
in a newline), or yields them as BSPump's generators do. The event's ``_id`` key, when present,
becomes the document id and is left out of the document; the event itself is never modified
(a dead-lettered event is shown as it came).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

#: A data feeder: the event in, the bulk item's lines out.
DataFeeder = Callable[[Any], bytes | Iterable[bytes]]

_NL = orjson.OPT_APPEND_NEWLINE


def _split_id(event: Any) -> tuple[Any, Any]:
    """The event's ``_id`` (None without one) and the document without it."""
    if isinstance(event, dict) and "_id" in event:
        return event["_id"], {k: v for k, v in event.items() if k != "_id"}
    return None, event


def _require_id(feeder: str, event: Any) -> tuple[Any, Any]:
    _id, doc = _split_id(event)
    if _id is None:
        raise ValueError(f"{feeder}: the event has no '_id' key; {feeder} needs one")
    return _id, doc


def data_feeder_create_or_index(event: Any) -> bytes:
    """``create`` without an ``_id`` (the cluster picks one), ``index`` with one (a replayed
    event overwrites its earlier copy): BSPump's default."""
    if type(event) is not dict or "_id" not in event:  # the common case, inlined: per event
        return b'{"create":{}}\n' + orjson.dumps(event, option=_NL)
    _id, doc = _split_id(event)
    return orjson.dumps({"index": {"_id": _id}}, option=_NL) + orjson.dumps(doc, option=_NL)


def data_feeder_create(event: Any) -> bytes:
    """``create``: a new document; an existing ``_id`` is a conflict (409, dead-lettered)."""
    _id, doc = _split_id(event)
    action = {"create": {}} if _id is None else {"create": {"_id": _id}}
    return orjson.dumps(action, option=_NL) + orjson.dumps(doc, option=_NL)


def data_feeder_index(event: Any) -> bytes:
    """``index``: create or replace the document."""
    _id, doc = _split_id(event)
    action = {"index": {}} if _id is None else {"index": {"_id": _id}}
    return orjson.dumps(action, option=_NL) + orjson.dumps(doc, option=_NL)


def data_feeder_update(event: Any) -> bytes:
    """``update``: merge the event into the existing document ``_id`` (missing: 404).

    Raises:
        ValueError: the event has no ``_id`` (the pipeline's error policy handles it).
    """
    _id, doc = _require_id("data_feeder_update", event)
    return orjson.dumps({"update": {"_id": _id}}, option=_NL) + orjson.dumps(
        {"doc": doc}, option=_NL
    )


def data_feeder_upsert(event: Any) -> bytes:
    """``update`` with ``doc_as_upsert``: merge into document ``_id``, creating it if missing.

    Raises:
        ValueError: the event has no ``_id``.
    """
    _id, doc = _require_id("data_feeder_upsert", event)
    return orjson.dumps({"update": {"_id": _id}}, option=_NL) + orjson.dumps(
        {"doc": doc, "doc_as_upsert": True}, option=_NL
    )


def data_feeder_delete(event: Any) -> bytes:
    """``delete`` document ``_id`` (an absent one is not an error).

    Raises:
        ValueError: the event has no ``_id``.
    """
    _id, _ = _require_id("data_feeder_delete", event)
    return orjson.dumps({"delete": {"_id": _id}}, option=_NL)
