"""Outbound HTTP for every service: explicit timeouts, a deadline over all attempts, safe retries, a breaker.

- Each attempt has connect, read, write and pool timeouts (2 s by default), each cut to what is left
  of the caller's deadline; the body is read in chunks and abandoned once the deadline passes.
- Retried: connection errors, timeouts, 5xx, 408 and 429, and only for idempotent requests (GET,
  HEAD, PUT, DELETE, OPTIONS, or a request the caller marks idempotent, like an OAuth token POST).
  Backoff is full jitter with a cap (RetryPolicy); `Retry-After` is honoured up to its cap; no
  retry is made that the deadline could not wait for.
- With a breaker, every attempt asks it first (open: CircuitOpen at once, no request) and reports
  to it after: retryable outcomes are failures, 2xx/3xx successes, other 4xx neither.
- Returns the first response that is not a retryable failure (the caller handles 4xx); raises
  UpstreamUnavailable (an Unavailable naming the upstream) when the attempts are spent.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from farmlokal_common.circuit_breaker import CircuitOpen, Permit, UpstreamBreaker
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import HTTP_CLIENT_ATTEMPTS, HTTP_CLIENT_LATENCY, HTTP_CLIENT_RETRIES
from farmlokal_common.retry import Deadline, RetryPolicy

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
RETRYABLE_OUTCOMES = frozenset({"rate_limited", "server_error", "timeout", "connection_error"})


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0
    read: float = 2.0
    write: float = 2.0
    pool: float = 2.0

    def within(self, deadline: Deadline) -> httpx.Timeout:
        left = max(0.001, deadline.remaining())
        return httpx.Timeout(
            connect=min(self.connect, left),
            read=min(self.read, left),
            write=min(self.write, left),
            pool=min(self.pool, left),
        )


@dataclass(frozen=True)
class Attempt:
    """One try, as the caller's on_attempt hook and the metrics see it."""

    number: int
    outcome: str  # ok, client_error, rate_limited, server_error, timeout, connection_error
    status: int | None
    latency_ms: int
    error: str = ""
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRYABLE_OUTCOMES


class UpstreamUnavailable(Unavailable):
    """The upstream kept failing (or the request could not be retried); the last attempt says how."""

    def __init__(self, upstream: str, last: Attempt, reason: str) -> None:
        super().__init__(f"{upstream} is unavailable ({last.error}); {reason}")
        self.upstream = upstream
        self.last = last


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() alone accepts "²", which float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(response: httpx.Response) -> str:
    status = response.status_code
    if status == 429:
        return "rate_limited"
    if status >= 500 or status == 408:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class ResilientClient:
    def __init__(
        self,
        upstream: str,
        http: httpx.Client,
        *,
        policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        breaker: UpstreamBreaker | None = None,
        deadline_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.upstream = upstream
        self.breaker = breaker
        self._http = http
        self._policy = policy or RetryPolicy()
        self._timeouts = timeouts or Timeouts()
        self._deadline_seconds = deadline_seconds
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        deadline: Deadline | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """options go to httpx.Client.build_request (params, headers, data, json, content...)."""
        own = Deadline.after(self._deadline_seconds)  # a caller's deadline can shorten it, never extend it
        deadline = own if deadline is None else Deadline(min(deadline.at, own.at))
        may_retry = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        auth = options.pop("auth", httpx.USE_CLIENT_DEFAULT)
        number = 0
        while True:
            number += 1
            permit = self._permit()
            try:
                attempt, response = self._attempt(number, method, url, deadline, auth, options)
            except BaseException:
                if self.breaker is not None and permit is not None:
                    self.breaker.neutral(permit)  # a bug here says nothing about the upstream
                raise
            self._report(permit, attempt)
            if on_attempt is not None:
                on_attempt(attempt)
            if not attempt.retryable and response is not None:
                return response
            delay = self._policy.backoff(number, attempt.retry_after)
            if not may_retry:
                raise UpstreamUnavailable(self.upstream, attempt, f"{method} is not retried")
            if number >= self._policy.max_attempts:
                raise UpstreamUnavailable(self.upstream, attempt, f"gave up after {number} attempts")
            if not deadline.allows(delay):
                raise UpstreamUnavailable(
                    self.upstream, attempt, f"the deadline leaves no time to retry after {number} attempts"
                )
            HTTP_CLIENT_RETRIES.labels(self.upstream, attempt.outcome).inc()
            self._sleep(delay)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    # -- internals -------------------------------------------------------------------------------

    def _permit(self) -> Permit | None:
        if self.breaker is None:
            return None
        try:
            return self.breaker.acquire()
        except CircuitOpen:
            HTTP_CLIENT_ATTEMPTS.labels(self.upstream, "breaker_open").inc()
            raise

    def _attempt(
        self, number: int, method: str, url: str, deadline: Deadline, auth: Any, options: dict[str, Any]
    ) -> tuple[Attempt, httpx.Response | None]:
        started = time.perf_counter()

        def done(
            outcome: str, status: int | None = None, error: str = "", retry_after: float | None = None
        ) -> Attempt:
            latency_ms = int((time.perf_counter() - started) * 1000)
            return Attempt(number, outcome, status, latency_ms, error, retry_after)

        request = self._http.build_request(method, url, timeout=self._timeouts.within(deadline), **options)
        try:
            response = self._send(request, deadline, auth)
        except httpx.TimeoutException:
            return done("timeout", error="timeout"), None
        except httpx.TransportError as error:
            return done("connection_error", error=type(error).__name__), None
        outcome = classify(response)
        retry_after = None
        if outcome in ("rate_limited", "server_error"):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
        return done(outcome, response.status_code, f"HTTP {response.status_code}", retry_after), response

    def _send(self, request: httpx.Request, deadline: Deadline, auth: Any) -> httpx.Response:
        """Reads the body in chunks so that a slow trickle cannot outlive the deadline."""
        streamed = self._http.send(request, stream=True, auth=auth)
        try:
            chunks = []
            for chunk in streamed.iter_bytes():
                chunks.append(chunk)
                if deadline.remaining() <= 0:
                    raise httpx.ReadTimeout("the deadline passed while reading the body", request=request)
        finally:
            streamed.close()
        # The body is decoded: the copy drops the encoding and length headers of the encoded body.
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in _BODY_HEADERS]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=streamed.extensions,
        )

    def _report(self, permit: Permit | None, attempt: Attempt) -> None:
        HTTP_CLIENT_ATTEMPTS.labels(self.upstream, attempt.outcome).inc()
        HTTP_CLIENT_LATENCY.labels(self.upstream, attempt.outcome).observe(attempt.latency_ms / 1000)
        if self.breaker is None or permit is None:
            return
        if attempt.retryable:
            self.breaker.failed(permit)
        elif attempt.outcome == "ok":
            self.breaker.succeeded(permit)
        else:
            self.breaker.neutral(permit)
