"""BSPump's common components: parsers, mappings, aggregators, in-memory sinks and routing."""

from ._aggregator import AggregationStrategy as AggregationStrategy
from ._aggregator import Aggregator as Aggregator
from ._aggregator import ListAggregationStrategy as ListAggregationStrategy
from ._aggregator import ListEventAggregationStrategy as ListEventAggregationStrategy
from ._aggregator import StringAggregationStrategy as StringAggregationStrategy
from ._bytes import BytesToStringParser as BytesToStringParser
from ._bytes import StringToBytesParser as StringToBytesParser
from ._flatten import FlattenDictProcessor as FlattenDictProcessor
from ._hexlify import HexlifyProcessor as HexlifyProcessor
from ._iterator_generator import IteratorGenerator as IteratorGenerator
from ._iterator_source import IteratorSource as IteratorSource
from ._json import DictToJsonBytesParser as DictToJsonBytesParser
from ._json import JsonBytesToDictParser as JsonBytesToDictParser
from ._json import StdDictToJsonParser as StdDictToJsonParser
from ._json import StdJsonToDictParser as StdJsonToDictParser
from ._mapping import MappingItemsGenerator as MappingItemsGenerator
from ._mapping import MappingItemsProcessor as MappingItemsProcessor
from ._mapping import MappingKeysGenerator as MappingKeysGenerator
from ._mapping import MappingKeysProcessor as MappingKeysProcessor
from ._mapping import MappingValuesGenerator as MappingValuesGenerator
from ._mapping import MappingValuesProcessor as MappingValuesProcessor
from ._routing import DirectSource as DirectSource
from ._routing import InternalSource as InternalSource
from ._routing import RouterMixIn as RouterMixIn
from ._routing import RouterProcessor as RouterProcessor
from ._routing import RouterSink as RouterSink
from ._routing import TeeProcessor as TeeProcessor
from ._routing import TeeSource as TeeSource
from ._sinks import ListSink as ListSink
from ._sinks import NullSink as NullSink
from ._timezone import TimeZoneNormalizer as TimeZoneNormalizer
from ._transformator import MappingTransformator as MappingTransformator
from ._transformator import Transformation as Transformation

__all__ = (
    "AggregationStrategy",
    "Aggregator",
    "BytesToStringParser",
    "DictToJsonBytesParser",
    "DirectSource",
    "FlattenDictProcessor",
    "HexlifyProcessor",
    "InternalSource",
    "IteratorGenerator",
    "IteratorSource",
    "JsonBytesToDictParser",
    "ListAggregationStrategy",
    "ListEventAggregationStrategy",
    "ListSink",
    "MappingItemsGenerator",
    "MappingItemsProcessor",
    "MappingKeysGenerator",
    "MappingKeysProcessor",
    "MappingTransformator",
    "MappingValuesGenerator",
    "MappingValuesProcessor",
    "NullSink",
    "RouterMixIn",
    "RouterProcessor",
    "RouterSink",
    "StdDictToJsonParser",
    "StdJsonToDictParser",
    "StringAggregationStrategy",
    "StringToBytesParser",
    "TeeProcessor",
    "TeeSource",
    "TimeZoneNormalizer",
    "Transformation",
)
