"""BSPump's ``bspump.common``: every component of ``pumpcore.common`` (and the print
components, which pumpcore keeps in ``pumpcore_stdio``), with BSPump's signatures."""

import pumpcore_stdio as _stdio

from pumpcore import common as _common

from ._adapt import adapt

AggregationStrategy = _common.AggregationStrategy
ListAggregationStrategy = _common.ListAggregationStrategy
ListEventAggregationStrategy = _common.ListEventAggregationStrategy
StringAggregationStrategy = _common.StringAggregationStrategy
RouterMixIn = _common.RouterMixIn
Transformation = _common.Transformation
Aggregator = adapt(_common.Aggregator, __name__)
BytesToStringParser = adapt(_common.BytesToStringParser, __name__)
StringToBytesParser = adapt(_common.StringToBytesParser, __name__)
FlattenDictProcessor = adapt(_common.FlattenDictProcessor, __name__)
HexlifyProcessor = adapt(_common.HexlifyProcessor, __name__)
IteratorGenerator = adapt(_common.IteratorGenerator, __name__)
IteratorSource = adapt(_common.IteratorSource, __name__, ("iterator", "id", "config"))
DictToJsonBytesParser = adapt(_common.DictToJsonBytesParser, __name__)
JsonBytesToDictParser = adapt(_common.JsonBytesToDictParser, __name__)
StdDictToJsonParser = adapt(_common.StdDictToJsonParser, __name__)
StdJsonToDictParser = adapt(_common.StdJsonToDictParser, __name__)
MappingItemsGenerator = adapt(_common.MappingItemsGenerator, __name__)
MappingItemsProcessor = adapt(_common.MappingItemsProcessor, __name__)
MappingKeysGenerator = adapt(_common.MappingKeysGenerator, __name__)
MappingKeysProcessor = adapt(_common.MappingKeysProcessor, __name__)
MappingValuesGenerator = adapt(_common.MappingValuesGenerator, __name__)
MappingValuesProcessor = adapt(_common.MappingValuesProcessor, __name__)
DirectSource = adapt(_common.DirectSource, __name__)
InternalSource = adapt(_common.InternalSource, __name__)
RouterProcessor = adapt(_common.RouterProcessor, __name__)
RouterSink = adapt(_common.RouterSink, __name__)
TeeProcessor = adapt(_common.TeeProcessor, __name__)
TeeSource = adapt(_common.TeeSource, __name__)
ListSink = adapt(_common.ListSink, __name__)
NullSink = adapt(_common.NullSink, __name__)
TimeZoneNormalizer = adapt(_common.TimeZoneNormalizer, __name__)
MappingTransformator = adapt(_common.MappingTransformator, __name__)
PPrintContextProcessor = adapt(_stdio.PPrintContextProcessor, __name__)
PPrintProcessor = adapt(_stdio.PPrintProcessor, __name__)
PPrintSink = adapt(_stdio.PPrintSink, __name__)
PrintContextProcessor = adapt(_stdio.PrintContextProcessor, __name__)
PrintProcessor = adapt(_stdio.PrintProcessor, __name__)
PrintSink = adapt(_stdio.PrintSink, __name__)

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
    "PPrintContextProcessor",
    "PPrintProcessor",
    "PPrintSink",
    "PrintContextProcessor",
    "PrintProcessor",
    "PrintSink",
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
