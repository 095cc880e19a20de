"""What the HTTP source, sink and lookup provider share: config parsing, and sending a request
with retries and a chill-down between attempts.

Rules:
1. An attempt fails on a transport error (connection refused or reset, a timeout) or on a status
   code the caller does not accept.
2. A failed attempt is retried, after ``fail_chilldown`` seconds, up to ``retries`` times, when
   retrying can help: transport errors, 5xx, 408 and 429. Any other unexpected status (a 404, a
   401) fails at once: asking again would get the same answer.
3. When no attempt succeeded, ``HTTPClientError`` is raised, naming the request, the number of
   attempts and the last problem. Nothing is dropped silently. Logs and messages show the URL
   without its query and password (``redact``), where secrets often travel.
4. ``requests`` (the ``http`` extra) is imported when a component is built, not when the package
   is: the package can be imported and inspected without it, and building a component without it
   fails at once with the command that installs it.
5. The chill-down is a real ``time.sleep``: it runs where blocking is allowed (a trigger source's
   cycle, a lookup provider's load, a sink under the synchronous executor).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from pumpcore import ConfigError, ConfigRule, PumpError, config_value_repr
from pumpcore.config import at_least, in_range, positive

if TYPE_CHECKING:
    import requests

log = logging.getLogger("pumpcore.http")

_RETRYABLE_STATUS = frozenset({408, 429})


class HTTPClientError(PumpError):
    """An HTTP request failed after every attempt (rule 3).

    Attributes:
        method: the request's method.
        url: the request's URL.
        attempts: how many attempts were made.
        status: the last response's status code, None when the last attempt got no response.
    """

    def __init__(
        self, message: str, *, method: str, url: str, attempts: int, status: int | None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.attempts = attempts
        self.status = status


@attrs.frozen
class HTTPClientStatistics:
    """What an HTTP component did so far.

    Attributes:
        requests: attempts sent (each retry counts).
        failed_attempts: attempts that failed (transport error or unexpected status).
        failures: requests given up after the last attempt (each raised ``HTTPClientError``).
    """

    requests: int
    failed_attempts: int
    failures: int


def require_requests(owner: str) -> None:
    """Raise, naming the fix, when ``requests`` is not installed (rule 4)."""
    try:
        import requests  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{owner} needs the 'requests' library: pip install \"pumpcore[http]\"",
            name="requests",
        ) from exc


def new_session() -> requests.Session:
    """A fresh ``requests.Session``."""
    import requests

    return requests.Session()


def parse_codes(owner: str, key: str, value: Any) -> frozenset[int]:
    """Status codes from text like ``"200"`` or ``"200, 204 301"`` (BSPump's ``response_code``).

    ``""`` gives an empty set, which callers read as "any 2xx".
    """
    text = str(value)
    codes = frozenset(int(code) for code in re.findall(r"\d+", text))
    if re.sub(r"[\d,;\s]", "", text) or any(not 100 <= c <= 599 for c in codes):
        raise ConfigError(
            f"{owner}: config key {key!r} expects status codes like '200, 204', got "
            f"{config_value_repr(key, value)}"
        )
    return codes


def parse_str_mapping(owner: str, key: str, value: Any) -> dict[str, str]:
    """A mapping of strings from a dict (``config=``) or a JSON object (an INI file's text)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            # Not the text itself: headers and params carry credentials under keys of their own
            # (Authorization, api_key), which a half-parsed text cannot be masked by.
            raise ConfigError(f"{owner}: config key {key!r} expects a JSON object ({exc})") from exc
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{owner}: config key {key!r} expects a mapping, got {type(value).__name__}"
        )
    return {str(k): str(v) for k, v in value.items()}


#: An HTTP method: letters only (``GET``, ``post``; upper-cased when read).
HTTP_METHOD = ConfigRule(
    "an HTTP method such as 'GET'", lambda v: isinstance(v, str) and v.isalpha()
)

#: A URL path served by a listening source.
URL_PATH = ConfigRule("a path starting with '/'", lambda v: isinstance(v, str) and v[:1] == "/")

#: The keys the HTTP client source and sink share (rule 6 of pumpcore/_config.py).
CLIENT_RULES: Mapping[str, ConfigRule] = {
    "method": HTTP_METHOD,
    "retries": in_range(0, 1000),
    "fail_chilldown": at_least(0),
    # NaN would make every request fail at once; inf would wait forever.
    "timeout": positive(),
}


def redact(url: str) -> str:
    """``url`` fit for logs and error messages: without a password and without the query, where
    API keys often travel (``?appid=…``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:…@{host}" if ":" in user else netloc
    query = "?…" if parts.query else ""
    return f"{urlunsplit((parts.scheme, netloc, parts.path, '', ''))}{query}"


def accepts(codes: frozenset[int]) -> Callable[[int], bool]:
    """The status test for ``codes``; an empty set accepts any 2xx."""
    if not codes:
        return lambda status: 200 <= status < 300
    return codes.__contains__


class RetryingClient:
    """Sends requests by rule 1-3 and counts what happened."""

    def __init__(self, label: str) -> None:
        require_requests(label)
        self.label = label
        self._n_requests = self._n_failed = self._n_failures = 0

    def statistics(self) -> HTTPClientStatistics:
        """A frozen snapshot of the counters."""
        return HTTPClientStatistics(self._n_requests, self._n_failed, self._n_failures)

    def send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        *,
        accept: Callable[[int], bool],
        retries: int,
        chilldown: float,
        timeout: float,
        quiet: bool = False,
        **kwargs: Any,
    ) -> tuple[requests.Response, int]:
        """Send until an accepted response; return it and the number of attempts. ``quiet``
        logs the retries at DEBUG instead of WARNING (a poller whose server is known down).

        Raises:
            HTTPClientError: every attempt failed, or one failed in a way retrying cannot help.
        """
        import requests

        attempt = 0
        while True:
            attempt += 1
            self._n_requests += 1
            status: int | None = None
            try:
                response = session.request(method, url, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                query = urlsplit(url).query
                if query:
                    problem = problem.replace(query, "…")  # see redact()
                retryable = isinstance(exc, requests.ConnectionError | requests.Timeout)
                cause: BaseException | None = exc
            else:
                status = response.status_code
                if accept(status):
                    return response, attempt
                problem = f"status {status} {response.reason}"
                retryable = status >= 500 or status in _RETRYABLE_STATUS
                cause = None
                response.close()
            self._n_failed += 1
            if not retryable or attempt > retries:
                self._n_failures += 1
                error = HTTPClientError(
                    f"{self.label}: {method} {redact(url)} failed after {attempt} attempt(s): "
                    f"{problem}",
                    method=method,
                    url=url,
                    attempts=attempt,
                    status=status,
                )
                raise error from cause
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "%s: %s %s failed (%s), retry %d/%d in %.3g s",
                self.label, method, redact(url), problem, attempt, retries, chilldown,
            )  # fmt: skip
            time.sleep(chilldown)
