"""Lookups: key → value tables that processors consult, filled and refreshed by providers."""

from ._mapping import AsyncLookupProvider as AsyncLookupProvider
from ._mapping import Lookup as Lookup
from ._mapping import LookupProvider as LookupProvider
from ._mapping import LookupStatistics as LookupStatistics
from ._mapping import MappingLookup as MappingLookup

__all__ = (
    "AsyncLookupProvider",
    "Lookup",
    "LookupProvider",
    "LookupStatistics",
    "MappingLookup",
)
