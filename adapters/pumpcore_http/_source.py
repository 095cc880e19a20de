"""HTTPClientSource: polls a URL on each trigger and emits the response body.

A refused poll (connection refused, a timeout, a status not accepted after the retries) is that
poll's failure, not the pipeline's: a service that polls must outlive the server it polls. So by
default (``on_error = continue``) the source isolates its own failures
(``Source.isolate_source_failures``): each is counted as ``source.error`` and reported to the
failure listeners as soft, and the next firing is the retry, whatever the pipeline's error
policy says. The source logs the first failed poll of a run of them at WARNING and the poll
that answers again at INFO; the retries and failures in between go to DEBUG, so a server down
for a day does not fill the log. ``on_error = policy`` hands such failures to the error policy
as before (under the hard policy the pipeline stops). Either way, an event that fails in a
processor (a body that is not JSON) goes through the error policy like any event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pumpcore import ConfigError, ConfigRule, Context, TriggerSource
from pumpcore.config import one_of

from ._client import (
    CLIENT_RULES,
    HTTPClientError,
    HTTPClientStatistics,
    RetryingClient,
    accepts,
    new_session,
    parse_codes,
    parse_str_mapping,
    redact,
)

if TYPE_CHECKING:
    import requests

    from pumpcore import Pipeline

log = logging.getLogger("pumpcore.http")


class HTTPClientSource(TriggerSource):
    """Sends one request per trigger firing and emits the response body as ``bytes``
    (BSPump's ``HTTPClientSource``).

    The event's context holds the request and response metadata: ``url`` (the final URL, after
    redirects), ``method``, ``status``, ``response_headers`` (a dict) and ``attempts``.

    Failed attempts are retried (see ``pumpcore_http``'s retry rules); when the last one fails,
    ``cycle`` raises ``HTTPClientError``, which the executor reports (counted as
    ``source_error``); the source polls again on the next firing, and the pipeline goes on
    unless ``on_error`` is ``"policy"`` and the policy is hard (see the module). A body that is
    not what the next processor expects (invalid JSON) is that processor's error.

    Args:
        headers: request headers (BSPump's argument), laid over the ``headers`` config key.

    Config:
        url: the URL to poll. Required.
        method: the HTTP method.
        headers: request headers: a dict, or a JSON object in a config file.
        params: query parameters: a dict, or a JSON object in a config file.
        response_code: the accepted status codes, e.g. ``"200"`` or ``"200, 204"``.
        retries: how many times a failed attempt is retried within one cycle.
        fail_chilldown: seconds to wait before each retry.
        timeout: seconds to wait for the connection and for each read of the response.
        on_error: ``"continue"``: a failed poll never stops the pipeline; ``"policy"``: the
            pipeline's error policy decides (the hard policy stops it).

    Example:
        >>> from pumpcore.trigger import PeriodicTrigger
        >>> source = HTTPClientSource(
        ...     config={"url": "http://127.0.0.1:8080/price", "headers": '{"X-Key": "k"}'}
        ... ).on(PeriodicTrigger(5))
        >>> source.Headers
        {'X-Key': 'k'}
    """

    ConfigDefaults: ClassVar[Mapping[str, Any]] = {
        "url": "",
        "method": "GET",
        "headers": None,
        "params": None,
        "response_code": "200",
        "retries": 2,
        "fail_chilldown": 1.0,
        "timeout": 30.0,
        "on_error": "continue",
    }
    ConfigRules: ClassVar[Mapping[str, ConfigRule]] = {
        **CLIENT_RULES,
        "on_error": one_of("continue", "policy"),
    }

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._headers_arg = dict(headers or {})
        super().__init__(pipeline, id, config)
        self._client = RetryingClient(type(self).__name__)
        self._failing = 0  # polls failed in a row: only the first is logged at WARNING

    def apply_config(self) -> None:
        super().apply_config()
        config = self.Config
        owner = f"{type(self).__name__} {self.Id!r}"
        #: The URL polled.
        self.URL = str(config["url"])
        #: The HTTP method, upper case.
        self.Method = str(config["method"]).upper()
        #: Request headers: the config's, then the constructor's.
        self.Headers = {
            **parse_str_mapping(owner, "headers", config["headers"]),
            **self._headers_arg,
        }
        #: Query parameters.
        self.Params = parse_str_mapping(owner, "params", config["params"])
        #: Accepted status codes (empty: any 2xx).
        self.ResponseCodes = parse_codes(owner, "response_code", config["response_code"])
        self._retries = int(config["retries"])
        self._chilldown = float(config["fail_chilldown"])
        self._timeout = float(config["timeout"])
        on_error = str(config["on_error"])
        self.isolate_source_failures = on_error == "continue"
        if self.Pipeline is not None and not self.URL:
            raise ConfigError(f"{owner}: config key 'url' is empty; give the URL to poll")

    def statistics(self) -> HTTPClientStatistics:
        """Requests sent, failed attempts and given-up cycles so far."""
        return self._client.statistics()

    def cycle(self, *args: Any) -> None:
        """Send the request (with retries) and hand the response to ``read``.

        Raises:
            HTTPClientError: no attempt got an accepted response.
        """
        with new_session() as session:
            try:
                response, attempts = self._client.send(
                    session,
                    self.Method,
                    self.URL,
                    accept=accepts(self.ResponseCodes),
                    retries=self._retries,
                    chilldown=self._chilldown,
                    timeout=self._timeout,
                    quiet=self._failing > 0,
                    headers=self.Headers or None,
                    params=self.Params or None,
                )
            except HTTPClientError as exc:
                self._failing += 1
                level = logging.WARNING if self._failing == 1 else logging.DEBUG
                log.log(level, "%s: poll failed, polling on: %s", self.locate_address(), exc)
                raise
        if self._failing:
            log.info(
                "%s: %s answers again after %d failed polls",
                self.locate_address(), redact(self.URL), self._failing,
            )  # fmt: skip
            self._failing = 0
        context: Context = {
            "url": response.url,
            "method": self.Method,
            "status": response.status_code,
            "response_headers": dict(response.headers),
            "attempts": attempts,
        }
        self.read(response, context)

    def read(self, response: requests.Response, context: Context) -> None:
        """Emit the response (BSPump's hook): the body as ``bytes`` by default.

        Override it to emit text, JSON or one event per line of the response.
        """
        self.process(response.content, context)
