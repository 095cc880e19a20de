"""The seed's BSPump examples are programs the tests run, not test modules to import; the
``executor`` fixture is the executors' own, and the servers are the adapters' tests' own
(one Tansu broker, one noida-db and one influxd per session, started when a test asks for them)."""

from ..adapters.elasticsearch.conftest import noida as noida
from ..adapters.influxdb.conftest import influx as influx
from ..adapters.kafka.conftest import broker as broker
from ..adapters.kafka.conftest import name as name
from ..executors.conftest import executor as executor

collect_ignore = ["examples"]
