"""Configuration: ``ConfigDefaults`` merged through the class hierarchy, then INI sections, then
the ``config=`` dict given to the constructor — BSPump's order, so its users feel at home.

Rules:
1. Every key a component accepts is declared in some ``ConfigDefaults`` of its class hierarchy.
   A key nobody declared raises ``ConfigError`` (unless the class sets ``ConfigAllowUnknown``).
2. A value is converted to the type of its default; INI text is always converted. A value that
   cannot be converted raises ``ConfigError`` naming the component, the key and the value.
3. Parsing INI *text* is pure; reading the file is the caller's job (the CLI, an executor).
4. A value whose key looks secret is never shown in a message (``config_value_repr``): a config
   error ends up in logs, terminals and bug reports, which a password must not.
5. A ``[pipeline:ID]`` or ``[pipeline:ID:ComponentID]`` section naming nothing that exists is
   reported by ``check_settings`` (a typo would otherwise leave its keys silently unused).
6. A key's range is declared once, next to its default, in ``ConfigRules`` (``positive()``,
   ``in_range(1, 2**20)``, ``one_of(...)``, ``text_codec()``…), merged along the class hierarchy
   like ``ConfigDefaults`` and checked after every resolution, before ``apply_config``. A number
   rule rejects NaN and infinities: NaN compares false with everything, so a hand-written
   ``value < 0`` lets it through, and an infinite interval or size is never what was meant.
   Adapters declare their rules the same way instead of checking by hand.
"""

from __future__ import annotations

import codecs
import configparser
import contextlib
import contextvars
import difflib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ._errors import ConfigError, ConfigWarning

if TYPE_CHECKING:
    from ._pipeline import Pipeline

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@attrs.frozen
class Settings:
    """Configuration sections, as read from an INI file (``[pipeline:ID]``, ``[connection:ID]``…).

    Example:
        >>> s = Settings.from_ini("[pipeline:P]\\nurl = http://x\\n")
        >>> s.section("pipeline:P")["url"]
        'http://x'
    """

    sections: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)

    @classmethod
    def from_ini(cls, text: str) -> Settings:
        """Parse INI text. Keys keep their case, as BSPump's config keys are case sensitive."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(text)
        except configparser.MissingSectionHeaderError as exc:
            # These messages quote the offending line, which may be "password hunter2" missing
            # its "=": name the line only (rule 4).
            raise ConfigError(
                f"invalid configuration file: line {exc.lineno} comes before any '[section]'"
            ) from None
        except configparser.ParsingError as exc:
            lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
            raise ConfigError(
                f"invalid configuration file: cannot parse line(s) {lines}: expected "
                "'[section]' or 'key = value'"
            ) from None
        except configparser.Error as exc:
            raise ConfigError(f"invalid configuration file: {exc}") from exc
        return cls({name: dict(parser.items(name, raw=True)) for name in parser.sections()})

    @classmethod
    def from_mapping(cls, sections: Mapping[str, Mapping[str, Any]]) -> Settings:
        """Build settings from a dict of sections; values are turned into strings like INI text."""
        return cls({name: {k: str(v) for k, v in keys.items()} for name, keys in sections.items()})

    def section(self, name: str) -> Mapping[str, str]:
        """The keys of one section, empty when the section is absent."""
        return self.sections.get(name, {})

    def merged(self, other: Settings) -> Settings:
        """These settings with ``other``'s keys laid on top."""
        out: dict[str, dict[str, str]] = {k: dict(v) for k, v in self.sections.items()}
        for name, keys in other.sections.items():
            out.setdefault(name, {}).update(keys)
        return Settings(out)


# Settings is frozen and never mutated after construction, so one shared default is safe.
_current: contextvars.ContextVar[Settings] = contextvars.ContextVar(
    "pumpcore_settings",
    default=Settings(),  # noqa: B039
)


def current_settings() -> Settings:
    """The settings in force for components constructed now (see ``use_settings``)."""
    return _current.get()


@contextlib.contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` the configuration for pipelines constructed inside the block.

    This is how ``pumpcore run -c pump.conf`` hands a config file to a pump module that constructs
    its pipelines itself, without a global application object.
    """
    token = _current.set(settings)
    try:
        yield settings
    finally:
        _current.reset(token)


# Words that make a key secret; see is_secret_config_key for how keys are split into parts.
_SECRET_WORDS = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "key", "credential",
    "credentials",
)  # fmt: skip
_WORD_BREAK = re.compile(r"[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_config_key(key: str) -> bool:
    """True when a config key looks like it holds a secret, whose value must not be shown.

    The key is split into word parts at anything but letters and digits and where a lower-case
    letter or digit meets an upper-case one; it is secret when a part, lower-cased, *ends with*
    password, passwd, pwd, passphrase, secret, token, key, credential or credentials. So
    ``password``, ``db_password``, ``api_key``, ``apikey``, ``apiKey``, ``private_key``,
    ``clientSecret``, ``access-token`` are secret; ``keyword``, ``keys``, ``max_tokens`` and
    ``keyfile`` are not (the word must end the part). A rare false positive (``monkey``) only
    hides a harmless value.

    Example:
        >>> [is_secret_config_key(k) for k in ("api_key", "apikey", "keyword", "url")]
        [True, True, False, False]
    """
    return any(part.lower().endswith(_SECRET_WORDS) for part in _WORD_BREAK.split(key) if part)


def config_value_repr(key: str, value: object) -> str:
    """``repr(value)`` for a message about config key ``key``, or ``'***'`` when the key looks
    secret (``is_secret_config_key``). Every config error that shows a value goes through here.

    Example:
        >>> config_value_repr("port", 21), config_value_repr("password", "hunter2")
        ('21', "'***'")
    """
    return "'***'" if is_secret_config_key(key) else repr(value)


# ---------------------------------------------------------------------------- rules (rule 6)


@attrs.frozen
class ConfigRule:
    """What a config value must be: a predicate and the words that say it in an error message.

    Build rules with ``positive``, ``at_least``, ``in_range``, ``finite``, ``one_of``,
    ``non_empty``, ``text_codec``, ``optional`` or ``ConfigRule(expects, test)`` for anything
    else; join two with ``&`` (both must hold). Declare them in a class's ``ConfigRules``.

    Attributes:
        expects: what the value must be, read after "must be" (``"a finite number > 0"``).
        test: True when the value is acceptable; it must not raise.

    Example:
        >>> rule = in_range(1, 10)
        >>> rule.test(5), rule.test(0), rule.test(float("nan"))
        (True, False, False)
        >>> try:
        ...     rule.check("Thing 'T'", "size", 11)
        ... except ConfigError as exc:
        ...     print(exc)
        Thing 'T': config key 'size' must be a number from 1 to 10, got 11
    """

    expects: str
    test: Callable[[Any], bool]

    def __and__(self, other: ConfigRule) -> ConfigRule:
        first, second = self.test, other.test
        return ConfigRule(f"{self.expects} and {other.expects}", lambda v: first(v) and second(v))

    def check(self, owner: str, key: str, value: object) -> None:
        """Raise ``ConfigError`` naming ``owner``, ``key`` and the value unless it passes.

        Use it for a value derived from several keys; plain keys go in ``ConfigRules``.
        """
        if not self.test(value):
            raise ConfigError(
                f"{owner}: config key {key!r} must be {self.expects}, "
                f"got {config_value_repr(key, value)}"
            )


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _bound(value: float) -> str:
    return format(int(value)) if float(value).is_integer() else repr(value)


def finite() -> ConfigRule:
    """A finite number (NaN and infinities rejected)."""
    return ConfigRule("a finite number", _is_finite_number)


def at_least(low: float) -> ConfigRule:
    """A finite number ``>= low`` (NaN and infinities rejected)."""
    return ConfigRule(
        f"a finite number >= {_bound(low)}", lambda v: _is_finite_number(v) and v >= low
    )


def positive() -> ConfigRule:
    """A finite number ``> 0`` (NaN and infinities rejected)."""
    return ConfigRule("a finite number > 0", lambda v: _is_finite_number(v) and v > 0)


def in_range(low: float, high: float) -> ConfigRule:
    """A number from ``low`` to ``high``, both included (NaN rejected).

    The upper bound is where a larger value would crash (the OS caps a socket buffer) or eat
    memory (a line or body size limit) rather than what anyone means.
    """
    return ConfigRule(
        f"a number from {_bound(low)} to {_bound(high)}",
        lambda v: _is_finite_number(v) and low <= v <= high,
    )


def one_of(*choices: object) -> ConfigRule:
    """One of ``choices`` (compared with ``==``)."""
    shown = ", ".join(repr(c) for c in choices)
    allowed = tuple(choices)
    return ConfigRule(f"one of {shown}", lambda v: any(v == c for c in allowed))


def non_empty() -> ConfigRule:
    """A string that is not empty or blank."""
    return ConfigRule("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))


def _is_text_codec(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        info = codecs.lookup(value)
    except LookupError:
        return False
    # Codecs such as rot13, base64, hex or zlib are registered too, but encode bytes to bytes or
    # str to str; str.encode refuses them, and only at the first event. CPython marks them so.
    return bool(getattr(info, "_is_text_encoding", True))


def text_codec(*, allow_empty: bool = False) -> ConfigRule:
    """The name of a text encoding that ``codecs`` knows: ``utf-8``, ``latin-1``… but not
    ``rot13``, ``base64``, ``hex`` or ``zlib``, which ``str.encode`` refuses.

    Args:
        allow_empty: also accept ``""`` (for keys where it means "bytes, not decoded").
    """
    if allow_empty:
        return ConfigRule(
            "'' or a text encoding known to Python (such as 'utf-8')",
            lambda v: v == "" or _is_text_codec(v),
        )
    return ConfigRule("a text encoding known to Python (such as 'utf-8')", _is_text_codec)


def optional(rule: ConfigRule) -> ConfigRule:
    """``None`` (the key is unset), or a value that passes ``rule``."""
    test = rule.test
    return ConfigRule(f"None or {rule.expects}", lambda v: v is None or test(v))


def config_owner(component: object) -> str:
    """How config errors name a component: its class and id (``"TCPSource 'in'"``)."""
    return f"{type(component).__name__} {getattr(component, 'Id', '?')!r}"


def check_config(owner: str, values: Mapping[str, Any], rules: Mapping[str, ConfigRule]) -> None:
    """Check each key of ``rules`` present in ``values``; the first failure raises.

    ``Configurable`` calls it with its merged ``ConfigRules``; call it directly for values that
    do not live in a ``ConfigDefaults`` (constructor arguments with config-like meaning).

    Raises:
        ConfigError: naming ``owner``, the key and the value (masked when the key is secret).
    """
    for key, rule in rules.items():
        if key in values:
            rule.check(owner, key, values[key])


def check_settings(
    settings: Settings, pipelines: Iterable[Pipeline], *, strict: bool = False
) -> tuple[str, ...]:
    """Find ``[pipeline:ID]`` and ``[pipeline:ID:ComponentID]`` sections that name no pipeline
    among ``pipelines``, or no component of it (``Pipeline.component_ids``).

    Such a section is most likely a typo, and its keys would be silently unused. Other sections
    (``[connection:ID]``, ``[lookup:ID]``…) are not checked. Call it once every pipeline is
    built: components join, and so become known, while a pipeline is built.

    Args:
        settings: the parsed config files.
        pipelines: every pipeline of the run.
        strict: raise instead of warning.

    Returns:
        One message per such section, naming it (empty when all is well).

    Raises:
        ConfigError: with ``strict``, listing every such section.

    Warns:
        ConfigWarning: one per such section, without ``strict``.
    """
    by_id = {p.Id: p for p in pipelines}
    problems: list[str] = []
    for name in settings.sections:
        if not name.startswith("pipeline:"):
            continue
        rest = name.removeprefix("pipeline:")
        if rest in by_id:
            continue
        # The longest pipeline id that prefixes the rest, so that ids containing ':' work.
        owner = max((pid for pid in by_id if rest.startswith(pid + ":")), key=len, default=None)
        if owner is None:
            head = rest.split(":", 1)[0]
            problems.append(
                f"config section [{name}] names no pipeline of this run"
                f"{_did_you_mean(head, by_id)} (pipelines: {', '.join(sorted(by_id)) or 'none'})"
            )
            continue
        component = rest.removeprefix(owner + ":")
        known = by_id[owner].component_ids()
        if component not in known:
            problems.append(
                f"config section [{name}] names no component of pipeline {owner!r}"
                f"{_did_you_mean(component, known)} (components: {', '.join(sorted(known))})"
            )
    if problems and strict:
        raise ConfigError("; ".join(problems))
    for problem in problems:
        warnings.warn(problem, ConfigWarning, stacklevel=2)
    return tuple(problems)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _convert(owner: str, key: str, value: object, default: object) -> object:
    """Convert ``value`` to the type of ``default``, or raise a ConfigError that says why."""
    if default is None or value is None:
        return value
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            if isinstance(value, int):
                return bool(value)
            raise ValueError("not a boolean")
        if kind is int and isinstance(value, str | int) and not isinstance(value, bool):
            return int(value)
        if kind is float and isinstance(value, str | int | float) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str | int | float):
            return str(value)
    except ValueError:
        pass
    raise ConfigError(
        f"{owner}: config key {key!r} expects {kind.__name__}, got {config_value_repr(key, value)}"
    )


# A BSPump pump ported to plain pumpcore line by line still passes ``app`` first: say so.
BSPUMP_HINT = (
    " (BSPump passes `app` first: pumpcore takes (pipeline, id, config) for components and "
    "(id, config) for pipelines; drop `app`, or keep the code and `import pumpcore_bspump as "
    "bspump`)"
)


class Configurable:
    """A component with BSPump-style configuration in ``self.Config``.

    Attributes:
        ConfigDefaults: the keys this class accepts and their defaults; merged along the MRO.
        ConfigAllowUnknown: accept keys no ``ConfigDefaults`` declares (BSPump's permissive mode).
        ConfigRules: what each key's value must be (``ConfigRule``); merged along the MRO and
            checked after every resolution, before ``apply_config`` (rule 6).
        Id: the component id, the class name unless given.
        Config: the resolved configuration, a plain dict.
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {}
    ConfigAllowUnknown: ClassVar[bool] = False
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {}

    Id: str
    Config: dict[str, Any]

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        if id is not None and not isinstance(id, str):
            raise ConfigError(f"{type(self).__name__}: id must be a str, got {id!r}{BSPUMP_HINT}")
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError(
                f"{type(self).__name__}: config must be a mapping, got {config!r}{BSPUMP_HINT}"
            )
        self.Id = id if id is not None else type(self).__name__
        self._config_given: Mapping[str, Any] = dict(config or {})
        self.Config = self._resolve_config(())
        self.apply_config()

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """Every ``ConfigDefaults`` along the class hierarchy, the most derived winning."""
        merged: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("ConfigDefaults", {}))
        return merged

    @classmethod
    def config_rules(cls) -> dict[str, ConfigRule]:
        """Every ``ConfigRules`` along the class hierarchy, the most derived winning."""
        merged: dict[str, ConfigRule] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("ConfigRules", {}))
        return merged

    def _resolve_config(self, layers: tuple[Mapping[str, str], ...]) -> dict[str, Any]:
        """Defaults, then each layer of INI keys in order, then the constructor's ``config=``."""
        defaults = self.config_defaults()
        resolved = dict(defaults)
        owner = config_owner(self)
        for layer in (*layers, self._config_given):
            for key, value in layer.items():
                if key not in defaults:
                    if not self.ConfigAllowUnknown:
                        known = ", ".join(sorted(defaults)) or "none"
                        raise ConfigError(
                            f"{owner}: unknown config key {key!r} "
                            f"(value {config_value_repr(key, value)}); "
                            f"known keys: {known}"
                        )
                    resolved[key] = value
                    continue
                resolved[key] = _convert(owner, key, value, defaults[key])
        check_config(owner, resolved, self.config_rules())
        return resolved

    def apply_config(self) -> None:
        """Derive attributes from ``self.Config`` and check them, raising ``ConfigError``.

        Called after every resolution: at construction, and again when the component joins a
        pipeline (whose config-file section may change values). Override it instead of
        re-reading the config in ``__init__`` and ``attach``. The default does nothing.
        """

    def reconfigure(self, *sections: Mapping[str, str]) -> None:
        """Resolve the configuration again with INI sections laid between defaults and config=."""
        self.Config = self._resolve_config(sections)
        self.apply_config()
