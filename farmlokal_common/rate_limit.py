"""GCRA rate limiting in one atomic Redis Lua script, with per-route limits from configuration."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis

from farmlokal_common.metrics import RATE_LIMIT_FAIL_OPEN

log = logging.getLogger("farmlokal.rate_limit")

# GCRA (generic cell rate algorithm): one key per client and route holding the theoretical arrival
# time (TAT). Redis TIME is the clock, so replicas with skewed clocks agree.
# Returns {allowed, remaining, retry_after_ms, reset_ms}.
_GCRA = """
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local window = emission * burst
local new_tat = tat + emission
local allow_at = new_tat - window
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(window))
return {1, math.floor((window - (new_tat - now)) / emission), 0, new_tat - now}
"""


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
    ) -> None:
        self._client = client
        self._limits = limits
        self._prefix = prefix
        self._script = client.register_script(_GCRA)
        self._log_interval = log_interval_seconds
        self._last_logged = -math.inf

    def limit_for(self, route: str) -> Limit | None:
        return self._limits.get(route) or self._limits.get("*")

    def check(self, route: str, client_key: str) -> Decision | None:
        """None when the route is unlimited or Redis is unreachable (fail open)."""
        limit = self.limit_for(route)
        if limit is None:
            return None
        key = f"{self._prefix}:{route}:{client_key}"
        try:
            allowed, remaining, retry_ms, reset_ms = self._script(
                keys=[key], args=[limit.emission_ms, limit.requests]
            )
        except redis.RedisError as error:
            self._fail_open(error)
            return None
        return Decision(
            allowed=bool(allowed),
            limit=limit.requests,
            remaining=int(remaining),
            reset_seconds=math.ceil(float(reset_ms) / 1000),
            retry_after_seconds=max(1, math.ceil(float(retry_ms) / 1000)) if not allowed else 0,
        )

    def _fail_open(self, error: redis.RedisError) -> None:
        RATE_LIMIT_FAIL_OPEN.inc()
        now = time.monotonic()
        if now - self._last_logged >= self._log_interval:
            self._last_logged = now
            log.warning("rate limiter failing open: redis unreachable", extra={"error": type(error).__name__})
