"""Lookups: key → value tables that processors consult, filled and refreshed by providers
(``MappingLookup``, alias ``DictionaryLookup``), and per-key lookups asking a store for one key
behind a bounded cache (``KeyLookup`` with ``enrich_by_key``)."""

from ._key import AsyncKeyFetcher as AsyncKeyFetcher
from ._key import Hit as Hit
from ._key import KeyFetcher as KeyFetcher
from ._key import KeyLookup as KeyLookup
from ._key import KeyLookupError as KeyLookupError
from ._key import KeyLookupStatistics as KeyLookupStatistics
from ._key import enrich_by_key as enrich_by_key
from ._mapping import AsyncLookupProvider as AsyncLookupProvider
from ._mapping import DictionaryLookup as DictionaryLookup
from ._mapping import Lookup as Lookup
from ._mapping import LookupProvider as LookupProvider
from ._mapping import LookupStatistics as LookupStatistics
from ._mapping import MappingLookup as MappingLookup

__all__ = (
    "AsyncKeyFetcher",
    "AsyncLookupProvider",
    "DictionaryLookup",
    "Hit",
    "KeyFetcher",
    "KeyLookup",
    "KeyLookupError",
    "KeyLookupStatistics",
    "Lookup",
    "LookupProvider",
    "LookupStatistics",
    "MappingLookup",
    "enrich_by_key",
)
