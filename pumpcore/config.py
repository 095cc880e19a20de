"""Declared config ranges: what each key's value must be, checked at build time.

A component says once, next to its ``ConfigDefaults``, what each key must hold::

    class Poller(BlockingSource):
        ConfigDefaults = {"interval": 1.0, "encoding": "utf-8", "mode": "r"}
        ConfigRules = {
            "interval": positive(),
            "encoding": text_codec(),
            "mode": one_of("r", "rb"),
        }

``Configurable`` checks them after every resolution (construction, joining a pipeline, a config
file section), before ``apply_config``, and raises ``ConfigError`` naming the component, the key
and the value (masked when the key looks secret). Number rules reject NaN and infinities.
"""

from ._config import ConfigRule as ConfigRule
from ._config import at_least as at_least
from ._config import check_config as check_config
from ._config import config_owner as config_owner
from ._config import finite as finite
from ._config import in_range as in_range
from ._config import non_empty as non_empty
from ._config import one_of as one_of
from ._config import optional as optional
from ._config import positive as positive
from ._config import text_codec as text_codec

__all__ = (
    "ConfigRule",
    "at_least",
    "check_config",
    "config_owner",
    "finite",
    "in_range",
    "non_empty",
    "one_of",
    "optional",
    "positive",
    "text_codec",
)
