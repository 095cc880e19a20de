"""ElasticSearchConnection: the REST client that the Elasticsearch sink, sources and lookup share.

Rules:
1. ``url`` holds one or more node URLs (``;``-separated, BSPump's form, or a list). Requests go
   to the node that answered last; a transport error (refused, reset, timeout) moves to the next
   node at once. A round over every node that failed is one failed attempt.
2. A failed attempt — every node unreachable, or a status retrying can help (429, 5xx) — is
   retried after a chill-down that doubles each time (``fail_chilldown``, at most
   ``max_chilldown``), up to ``retries`` times; any other unexpected status fails at once.
   Then ``ElasticSearchError`` is raised, naming the request, the attempts and the last problem.
3. Credentials (``password``, ``api_key``, a password inside a URL) never appear in a repr, a
   log line or an error message.
4. One ``requests.Session`` per thread: a sink flushes in a worker thread while a source may
   poll in another.
5. Blocking by design (``requests``): every caller runs where blocking is allowed (a sink's
   ``flush``, a trigger source's ``cycle``, a lookup provider's ``load``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import attrs
import orjson

from pumpcore import ConfigError, ConfigRule, Configurable, PumpError, current_settings
from pumpcore.config import at_least, in_range, positive

if TYPE_CHECKING:
    import requests

log = logging.getLogger("pumpcore.elasticsearch")


def require_requests(owner: str) -> None:
    """Raise, naming the fix, when ``requests`` is not installed (it is imported when a
    component is built, so the package imports without it)."""
    try:
        import requests  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{owner} needs the 'requests' library: pip install \"pumpcore[elasticsearch]\"",
            name="requests",
        ) from exc


def retryable(status: int) -> bool:
    """True for a status that retrying can help (429 and 5xx)."""
    return status == 429 or status >= 500


class ElasticSearchError(PumpError):
    """A request to Elasticsearch failed after every attempt (rule 2).

    Attributes:
        method: the request's method.
        path: the request's path (no host, no credentials).
        attempts: how many attempts were made.
        status: the last response's status code, None when no node answered.
        body: the last response's decoded JSON body (its ``error``), None without one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        attempts: int,
        status: int | None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.attempts = attempts
        self.status = status
        self.body = body


@attrs.frozen
class ElasticSearchConnectionStatistics:
    """What a connection did so far.

    Attributes:
        requests: requests sent to a node (each retry and failover counts).
        failovers: times a node failed and the next one was tried.
        retries: failed attempts that were retried after a chill-down.
        failures: requests given up (each raised ``ElasticSearchError``).
    """

    requests: int
    failovers: int
    retries: int
    failures: int


def redact(url: str) -> str:
    """``url`` without a password (rule 3)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:…@{host}" if ":" in user else netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _split_urls(value: Any) -> list[str]:
    items = value.split(";") if isinstance(value, str) else list(value)
    return [str(u).strip().rstrip("/") for u in items if str(u).strip()]


_URLS = ConfigRule(
    "one or more http(s) URLs separated by ';'",
    lambda v: (
        isinstance(v, str | list | tuple)
        and bool(_split_urls(v))
        and all(
            urlsplit(u).scheme in ("http", "https") and urlsplit(u).hostname for u in _split_urls(v)
        )
    ),
)


class ElasticSearchConnection(Configurable):
    """A connection to an Elasticsearch (or OpenSearch) cluster over its REST API, BSPump's
    ``ElasticSearchConnection``: several node URLs with failover, basic auth or an API key, TLS
    verification, timeouts, retries (see the module rules).

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``.

    Config:
        url: node URLs, ``;``-separated (BSPump's multi-URL), e.g.
            ``http://es1:9200;http://es2:9200``.
        username, password: HTTP basic auth (empty: none).
        api_key: an Elasticsearch API key, sent as ``Authorization: ApiKey …`` (empty: none).
        verify: verify the nodes' TLS certificates.
        ca_file: a CA bundle to verify them with (empty: the system's).
        timeout: seconds to wait for a response (each read).
        connect_timeout: seconds to wait for a connection to a node.
        retries: how many times a failed attempt is retried.
        fail_chilldown: seconds before the first retry (doubles each time).
        max_chilldown: the longest chill-down.

    Example:
        >>> c = ElasticSearchConnection(config={"url": "http://a:9200;http://b:9200",
        ...                                     "password": "s3cret", "username": "u"})
        >>> c.urls
        ['http://a:9200', 'http://b:9200']
        >>> "s3cret" in repr(c)
        False
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "http://localhost:9200",
        "username": "",
        "password": "",
        "api_key": "",
        "verify": True,
        "ca_file": "",
        "timeout": 60.0,
        "connect_timeout": 5.0,
        "retries": 8,
        "fail_chilldown": 0.25,
        "max_chilldown": 10.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "url": _URLS,
        "timeout": positive(),
        "connect_timeout": positive(),
        "retries": in_range(0, 10_000),
        "fail_chilldown": at_least(0),
        "max_chilldown": at_least(0),
    }

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        require_requests(type(self).__name__)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._node = 0
        self._n_requests = self._n_failovers = self._n_retries = self._n_failures = 0
        super().__init__(id=id if id is not None else "ESConnection", config=config)
        section = current_settings().section(f"connection:{self.Id}")
        if section:
            self.reconfigure(section)

    def apply_config(self) -> None:
        """Read the node URLs, credentials and timeouts."""
        config = self.Config
        #: The node URLs, without a trailing slash.
        self.urls = _split_urls(config["url"])
        user, password, api_key = config["username"], config["password"], config["api_key"]
        if password and not user:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'password' is set but "
                "'username' is empty"
            )
        self._auth: tuple[str, str] | None = (str(user), str(password)) if user else None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"ApiKey {api_key}"
        self._verify: bool | str = str(config["ca_file"]) or bool(config["verify"])
        self._timeout = (float(config["connect_timeout"]), float(config["timeout"]))
        self._retries = int(config["retries"])
        self._chilldown = float(config["fail_chilldown"])
        self._max_chilldown = float(config["max_chilldown"])

    def __repr__(self) -> str:
        nodes = ";".join(redact(u) for u in self.urls)
        auth = " basic-auth" if self._auth else ""
        key = " api-key" if "Authorization" in self._headers else ""
        return f"<{type(self).__name__} {self.Id!r} {nodes}{auth}{key}>"

    def statistics(self) -> ElasticSearchConnectionStatistics:
        """A frozen snapshot of the counters."""
        with self._lock:
            return ElasticSearchConnectionStatistics(
                self._n_requests, self._n_failovers, self._n_retries, self._n_failures
            )

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.auth = self._auth
            session.headers.update(self._headers)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str | None = None,
        accept: Sequence[int] = (),
    ) -> tuple[int, Any]:
        """Send a request with failover and retries (rules 1-2); return the status and the
        decoded JSON body (None when empty).

        Args:
            method: ``GET``, ``POST``…
            path: from the root, e.g. ``/logs/_bulk``.
            body: a JSON body (encoded with orjson), or None.
            data: a raw body (an NDJSON bulk), instead of ``body``.
            params: query parameters.
            content_type: the raw body's content type.
            accept: statuses to return rather than fail on, besides 2xx (e.g. 404).

        Raises:
            ElasticSearchError: no attempt got an accepted response.
        """
        import requests

        payload = orjson.dumps(body) if body is not None else data
        headers = {"Content-Type": content_type} if content_type else None
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            decoded: Any = None
            problem = ""
            for _ in range(len(self.urls)):
                with self._lock:
                    node = self._node
                    self._n_requests += 1
                url = self.urls[node] + path
                try:
                    response = self._session().request(
                        method,
                        url,
                        data=payload,
                        params=params,
                        headers=headers,
                        timeout=self._timeout,
                        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's.
                        verify=self._verify,
                    )
                except requests.RequestException as exc:
                    problem = f"{redact(self.urls[node])}: {type(exc).__name__}"
                    with self._lock:
                        if self._node == node:
                            self._node = (node + 1) % len(self.urls)
                            self._n_failovers += len(self.urls) > 1
                    continue
                status = response.status_code
                content = response.content
                decoded = orjson.loads(content) if content else None
                if 200 <= status < 300 or status in accept:
                    return status, decoded
                problem = f"status {status}: {_reason(decoded)}"
                break
            retries, delay = self.retry_delay(attempt)
            if (status is not None and not retryable(status)) or delay is None:
                with self._lock:
                    self._n_failures += 1
                raise ElasticSearchError(
                    f"{type(self).__name__} {self.Id!r}: {method} {path} failed after "
                    f"{attempt} attempt(s): {problem}",
                    method=method,
                    path=path,
                    attempts=attempt,
                    status=status,
                    body=decoded,
                )
            with self._lock:
                self._n_retries += 1
            log.warning(
                "%s %r: %s %s failed (%s), retry %d/%d in %.3g s",
                type(self).__name__, self.Id, method, path, problem, attempt, retries, delay,
            )  # fmt: skip
            time.sleep(delay)

    def retry_delay(self, attempt: int) -> tuple[int, float | None]:
        """The configured retries, and the chill-down before retrying after failed attempt
        number ``attempt`` (1 for the first): None when no retry is left (rule 2)."""
        if attempt > self._retries:
            return self._retries, None
        return self._retries, min(self._max_chilldown, self._chilldown * 2 ** (attempt - 1))

    def info(self) -> Mapping[str, Any]:
        """The cluster's ``GET /`` answer (name, version, distribution)."""
        _, body = self.request("GET", "/")
        return body if isinstance(body, dict) else {}

    def point_in_time_api(self) -> str | None:
        """Which point-in-time API the cluster has: ``"elasticsearch"`` (``/_pit``, 7.10 and
        later), ``"opensearch"`` (``/_search/point_in_time``, 2.4 and later), or None."""
        version = self.info().get("version", {})
        number = tuple(
            int(p) for p in str(version.get("number", "0")).split(".")[:2] if p.isdigit()
        )
        if version.get("distribution") == "opensearch":
            return "opensearch" if number >= (2, 4) else None
        return "elasticsearch" if number >= (7, 10) else None

    def close(self) -> None:
        """Close the kept-alive connections of every thread; a later request opens new ones."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()


def _reason(body: Any) -> str:
    """The error reason in an Elasticsearch error body, short."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return f"{error.get('type')}: {str(error.get('reason'))[:300]}"
        if error is not None:
            return str(error)[:300]
    return str(body)[:300]
