"""InfluxDBConnection: InfluxDB 1.x's HTTP API (``/write``, ``/query``), with retries.

Rules:
1. A transport error (refused, reset, timeout), a 429 or a 5xx is retried after a chill-down
   that doubles each time (``fail_chilldown``, at most ``max_chilldown``), up to ``retries``
   times; then ``InfluxDBError`` is raised, naming the request, the attempts and the problem.
2. Any other status is the caller's to judge (``write`` returns it with the server's message):
   a 400 concerns the lines sent, a 401 or 404 the configuration.
3. The password never appears in a repr, a log line or a message (it travels as basic auth).
4. One ``requests.Session`` per thread; blocking by design (a sink's ``flush``, a lookup's load).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import attrs
import orjson

from pumpcore import ConfigError, ConfigRule, Configurable, PumpError, current_settings
from pumpcore.config import at_least, in_range, non_empty, positive

if TYPE_CHECKING:
    import requests

log = logging.getLogger("pumpcore.influxdb")

#: Timestamp precisions of the write API, and how many nanoseconds one unit is.
PRECISIONS: Mapping[str, int] = {"ns": 1, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


class InfluxDBError(PumpError):
    """A request to InfluxDB failed after every attempt, or was refused for a reason that does
    not concern the lines sent (rule 1, rule 2).

    Attributes:
        path: the request's path.
        attempts: how many attempts were made.
        status: the last response's status code, None when the server never answered.
    """

    def __init__(self, message: str, *, path: str, attempts: int, status: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.attempts = attempts
        self.status = status


@attrs.frozen
class InfluxDBConnectionStatistics:
    """What a connection did so far.

    Attributes:
        requests: requests sent (each retry counts).
        retries: failed attempts retried after a chill-down.
        failures: requests given up (each raised ``InfluxDBError``).
    """

    requests: int
    retries: int
    failures: int


def require_requests(owner: str) -> None:
    """Raise, naming the fix, when ``requests`` is not installed."""
    try:
        import requests  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{owner} needs the 'requests' library: pip install \"pumpcore[influxdb]\"",
            name="requests",
        ) from exc


_URL = ConfigRule(
    "an http(s) URL",
    lambda v: (
        isinstance(v, str)
        and urlsplit(v).scheme in ("http", "https")
        and bool(urlsplit(v).hostname)
    ),
)


class InfluxDBConnection(Configurable):
    """A connection to one InfluxDB 1.x server and database, BSPump's ``InfluxDBConnection``.

    Its config is the ``[connection:ID]`` section of the settings in force when it is made
    (``pumpcore.use_settings``), then ``config=``.

    Config:
        url: the server, e.g. ``http://localhost:8086``.
        db: the database written to.
        retention_policy: the retention policy written to ("": the database's default).
        username, password: credentials (empty: none).
        verify: verify the server's TLS certificate.
        timeout: seconds to wait for a connection and for each read of a response.
        retries: how many times a failed attempt is retried.
        fail_chilldown: seconds before the first retry (doubles each time).
        max_chilldown: the longest chill-down.

    Example:
        >>> c = InfluxDBConnection(config={"db": "metrics", "username": "u", "password": "pw"})
        >>> repr(c)
        "<InfluxDBConnection 'InfluxConnection' http://localhost:8086/ db='metrics' user='u'>"
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "http://localhost:8086/",
        "db": "mydb",
        "retention_policy": "",
        "username": "",
        "password": "",
        "verify": True,
        "timeout": 30.0,
        "retries": 8,
        "fail_chilldown": 0.25,
        "max_chilldown": 10.0,
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        "url": _URL,
        "db": non_empty(),
        "timeout": positive(),
        "retries": in_range(0, 10_000),
        "fail_chilldown": at_least(0),
        "max_chilldown": at_least(0),
    }

    def __init__(self, id: str | None = None, config: Mapping[str, Any] | None = None) -> None:
        require_requests(type(self).__name__)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._n_requests = self._n_retries = self._n_failures = 0
        super().__init__(id=id if id is not None else "InfluxConnection", config=config)
        section = current_settings().section(f"connection:{self.Id}")
        if section:
            self.reconfigure(section)

    def apply_config(self) -> None:
        """Read the URL, database and credentials."""
        config = self.Config
        #: The server's URL, without a trailing slash.
        self.url = str(config["url"]).rstrip("/")
        #: The database written to.
        self.db = str(config["db"])
        self.retention_policy = str(config["retention_policy"])
        user, password = str(config["username"]), str(config["password"])
        if password and not user:
            raise ConfigError(
                f"{type(self).__name__} {self.Id!r}: config key 'password' is set but "
                "'username' is empty"
            )
        self._auth = (user, password) if user else None
        self._verify = bool(config["verify"])
        self._timeout = float(config["timeout"])
        self._retries = int(config["retries"])
        self._chilldown = float(config["fail_chilldown"])
        self._max_chilldown = float(config["max_chilldown"])

    def __repr__(self) -> str:
        user = f" user={self._auth[0]!r}" if self._auth else ""
        return f"<{type(self).__name__} {self.Id!r} {self.url}/ db={self.db!r}{user}>"

    def statistics(self) -> InfluxDBConnectionStatistics:
        """A frozen snapshot of the counters."""
        with self._lock:
            return InfluxDBConnectionStatistics(self._n_requests, self._n_retries, self._n_failures)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.auth = self._auth
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _send(
        self, method: str, path: str, params: Mapping[str, str], data: bytes | None
    ) -> tuple[int, bytes]:
        """Send with rule 1's retries; return the status and body of the first answer that
        is neither a 429 nor a 5xx."""
        import requests

        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self._n_requests += 1
            status: int | None = None
            try:
                response = self._session().request(
                    method,
                    self.url + path,
                    params=params,
                    data=data,
                    timeout=self._timeout,
                    verify=self._verify,  # per request: REQUESTS_CA_BUNDLE overrides a session's
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return status, response.content
                problem = f"status {status}: {_message(response.content)}"
            if attempt > self._retries:
                with self._lock:
                    self._n_failures += 1
                raise InfluxDBError(
                    f"{type(self).__name__} {self.Id!r}: {method} {path} failed after "
                    f"{attempt} attempt(s): {problem}",
                    path=path,
                    attempts=attempt,
                    status=status,
                )
            delay = min(self._max_chilldown, self._chilldown * 2 ** (attempt - 1))
            with self._lock:
                self._n_retries += 1
            log.warning(
                "%s %r: %s %s failed (%s), retry %d/%d in %.3g s",
                type(self).__name__, self.Id, method, path, problem, attempt, self._retries, delay,
            )  # fmt: skip
            time.sleep(delay)

    def write(self, body: bytes, precision: str) -> tuple[int, str]:
        """POST lines to ``/write``; return the status (204 when all were written) and the
        server's message (rule 2).

        Raises:
            InfluxDBError: no answer but 429s or 5xx after every retry.
        """
        params = {"db": self.db, "precision": precision}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        status, content = self._send("POST", "/write", params, body)
        return status, "" if status == 204 else _message(content)

    def query(self, q: str) -> list[Mapping[str, Any]]:
        """Run InfluxQL ``q`` on the database; return its ``results``.

        Raises:
            InfluxDBError: the server refused the query, or never answered.
        """
        status, content = self._send("POST", "/query", {"db": self.db, "q": q}, None)
        body = orjson.loads(content) if content else {}
        errors = [r["error"] for r in body.get("results", []) if "error" in r]
        if status != 200 or "error" in body or errors:
            raise InfluxDBError(
                f"{type(self).__name__} {self.Id!r}: query refused (status {status}): "
                f"{body.get('error') or errors}",
                path="/query",
                attempts=1,
                status=status,
            )
        results: list[Mapping[str, Any]] = body.get("results", [])
        return results

    def close(self) -> None:
        """Close the kept-alive connections of every thread; a later request opens new ones."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()


def _message(content: bytes) -> str:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content[:300].decode(errors="replace")
    return str(body.get("error", body))[:500] if isinstance(body, dict) else str(body)[:500]
