"""GCRA rate limiting in one atomic Redis Lua script, with per-route limits from configuration."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis

from farmlokal_common import request_context
from farmlokal_common.errors import RateLimited
from farmlokal_common.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMIT_REJECTIONS
from farmlokal_common.outage import Backoff
from farmlokal_common.redis_scripts import register_script

log = logging.getLogger("farmlokal.rate_limit")

# GCRA (generic cell rate algorithm): one key per client and route holding the theoretical arrival
# time (TAT). Redis TIME is the clock, so replicas with skewed clocks agree. A request that queued for
# a serving thread (a stalled database holding the others) is judged near its arrival, `age` ms
# before now, so a burst of queued requests is not a burst of charges (see arrival_age_ms); but
# never earlier than it would conform: the client's later requests, charged while it queued, must
# not make it late (a request that queued 3 s was refused under a 1,000,000/s limit). So a queued
# request is refused only when it would be refused now as well. The answer's remaining and reset
# are from now.
# Returns {allowed, remaining, retry_after_ms, reset_ms}. Other scripts (the response cache) include
# this function to answer a rate-limit check and their own lookup in one round trip.
GCRA_FUNCTION = """
local function gcra(key, emission, burst, age)
  local t = redis.call('TIME')
  local real = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local now = real - age
  local tat = tonumber(redis.call('GET', key) or now)
  local window = emission * burst
  local conforms_at = tat + emission - window
  if conforms_at > now then now = math.min(real, conforms_at) end
  if tat < now then tat = now end
  local new_tat = tat + emission
  local allow_at = new_tat - window
  if allow_at > now then
    return {0, 0, allow_at - now, tat - now}
  end
  redis.call('SET', key, new_tat, 'PX', math.ceil(window))
  local remaining = math.floor((window - math.max(new_tat - real, emission)) / emission)
  return {1, remaining, 0, math.max(new_tat - real, 0)}
end
"""
_GCRA = GCRA_FUNCTION + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"
# Waits up to this long are ordinary scheduling and charged now, in the order requests reach Redis:
# GCRA counts exactly only when its clock never goes back, and concurrent requests charged at their
# own arrivals would reach it out of order (one too many rejected at the limit). A longer wait is a
# queue: charged this long after arrival.
ORDINARY_WAIT_MS = 250
MAX_AGE_MS = 60_000  # a bound on a bad clock read


def arrival_age_ms() -> int:
    """How many ms before now to charge the served call (0 outside a call or after a short wait)."""
    waited = int(request_context.seconds_since_arrival() * 1000)
    return min(max(0, waited - ORDINARY_WAIT_MS), MAX_AGE_MS)


@dataclass(frozen=True)
class Limit:
    requests: int
    period_seconds: float

    @property
    def emission_ms(self) -> float:
        return self.period_seconds * 1000 / self.requests


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    @classmethod
    def from_script(cls, limit: Limit, reply: list[object]) -> Decision:
        allowed, remaining, retry_ms, reset_ms = (float(str(v)) for v in reply[:4])
        return cls(
            allowed=bool(allowed),
            limit=limit.requests,
            remaining=int(remaining),
            reset_seconds=math.ceil(reset_ms / 1000),
            retry_after_seconds=max(1, math.ceil(retry_ms / 1000)) if not allowed else 0,
        )

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_seconds),
        }


def parse_limits(spec: str) -> dict[str, Limit]:
    """'ListProducts=100/1,*=50/1' → {route: Limit}: N requests per period seconds; '*' is the default."""
    limits: dict[str, Limit] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        route, _, rate = item.partition("=")
        count, _, period = rate.partition("/")
        try:
            limit = Limit(int(count), float(period or 1))
        except ValueError as error:
            raise ValueError(f"bad rate limit {item!r}: expected ROUTE=REQUESTS/SECONDS") from error
        if limit.requests <= 0 or limit.period_seconds <= 0:
            raise ValueError(f"bad rate limit {item!r}: requests and seconds must be positive")
        limits[route.strip()] = limit
    return limits


class RateLimiter:
    """Checks one request against its route's limit; fails open (counted, logged once per interval)."""

    def __init__(
        self,
        client: redis.Redis,
        limits: dict[str, Limit],
        prefix: str = "rl",
        log_interval_seconds: float = 30.0,
        redis_backoff_seconds: float = 1.0,
    ) -> None:
        self._client = client
        self._limits = limits
        self._prefix = prefix
        self._script = register_script(client, _GCRA)
        self._log_interval = log_interval_seconds
        self._last_logged = -math.inf
        self._redis_down = Backoff(redis_backoff_seconds)

    def limit_for(self, route: str) -> Limit | None:
        return self._limits.get(route) or self._limits.get("*")

    def check(self, route: str, client_key: str) -> Decision | None:
        """None when the route is unlimited or Redis is unreachable (fail open)."""
        limit = self.limit_for(route)
        if limit is None:
            return None
        if self._redis_down.active():
            self.fail_open(None)
            return None
        try:
            reply = self._script(
                keys=[self.key(route, client_key)], args=[limit.emission_ms, limit.requests, arrival_age_ms()]
            )
        except redis.RedisError as error:
            self.fail_open(error)
            return None
        return Decision.from_script(limit, reply)

    def key(self, route: str, client_key: str) -> str:
        return f"{self._prefix}:{route}:{client_key}"

    def fail_open(self, error: redis.RedisError | None) -> None:
        """Counts a request let through unchecked; `error` (None while backing off) starts a back-off."""
        RATE_LIMIT_FAIL_OPEN.inc()
        if error is None:
            return
        self._redis_down.trip()
        now = time.monotonic()
        if now - self._last_logged >= self._log_interval:
            self._last_logged = now
            log.warning("rate limiter failing open: redis unreachable", extra={"error": type(error).__name__})


def enforce(decision: Decision | None, route: str) -> None:
    """Raises RateLimited (counted) when the decision rejects the request."""
    if decision is None or decision.allowed:
        return
    RATE_LIMIT_REJECTIONS.labels(route).inc()
    raise RateLimited(
        f"rate limit of {decision.limit} requests exceeded for {route}; "
        f"retry after {decision.retry_after_seconds} s",
        decision.retry_after_seconds,
    )
