"""Redis response cache keyed by a canonical query and a generation number, with single-flight.

- A write bumps the generation, so every entry made before it stops being addressed at once.
- On a miss, threads of one process coalesce (SingleFlight) and processes coalesce through a
  Redis lock (SET NX PX, compare-and-delete release): one computes, the others poll for its result
  for a bounded time, then compute themselves.
- Redis down: the cache steps aside for a short back-off and computations run from the database;
  it comes back by itself. How many run at once is the database bulkhead's bound
  (farmlokal_common/bulkhead.py), the same one every database call of a serving thread passes.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from farmlokal_common import deferred_rate_limit, rate_limit, request_context
from farmlokal_common.dependency_errors import QUERY_TOO_SLOW
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import CACHE_EVENTS
from farmlokal_common.outage import Backoff
from farmlokal_common.rate_limit import GCRA_FUNCTION
from farmlokal_common.single_flight import SingleFlight

log = logging.getLogger("farmlokal.cache")

_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
"""
# The same lookup preceded by the call's rate-limit check (KEYS[2]): one round trip for both.
# A rejected request does no lookup. Reply: {allowed, remaining, retry_ms, reset_ms, generation, value}.
_GATED_LOOKUP = (
    GCRA_FUNCTION
    + """
local gate = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if gate[1] == 0 then return gate end
local generation = redis.call('GET', KEYS[1]) or '0'
gate[5] = generation
gate[6] = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
return gate
"""
)
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class CacheSettings:
    namespace: str
    ttl_seconds: int = 60
    lock_ttl_seconds: float = 5.0
    wait_seconds: float = 2.0
    redis_backoff_seconds: float = 1.0
    enabled: bool = True


class ResponseCache:
    def __init__(self, client: redis.Redis, settings: CacheSettings) -> None:
        self._redis = client
        self._settings = settings
        self._lookup = client.register_script(_LOOKUP)
        self._gated_lookup = client.register_script(_GATED_LOOKUP)
        self._release = client.register_script(_RELEASE)
        self._flight: SingleFlight[bytes] = SingleFlight()
        self._redis_down = Backoff(settings.redis_backoff_seconds)
        self.generation_key = f"{settings.namespace}:generation"

    def get_or_compute(self, canonical_query: str, compute: Callable[[], bytes]) -> bytes:
        """The cached value, or compute() once per key; the call's deferred rate-limit check (if
        the interceptor left one) is answered first, in the same Redis round trip as the lookup."""
        gate = deferred_rate_limit.take_deferred()
        if not self._settings.enabled or self._redis_down.active():
            if gate is not None:
                rate_limit.enforce(gate.check_now(), gate.route)
            return compute() if not self._settings.enabled else self._compute_degraded(compute)
        digest = hashlib.sha256(canonical_query.encode()).hexdigest()[:32]
        try:
            generation, cached = self._get(digest, gate)
        except redis.RedisError as error:
            if gate is not None and not gate.done:
                gate.answer(None, error)
            self._mark_redis_down(error)
            return self._compute_degraded(compute)
        if cached is not None:
            CACHE_EVENTS.labels(self._settings.namespace, "hit").inc()
            return cached
        CACHE_EVENTS.labels(self._settings.namespace, "miss").inc()
        key = self._value_key(generation, digest)
        try:
            return self._flight.do(key, lambda: self._fill(key, compute), self._wait_budget())
        except TimeoutError:
            CACHE_EVENTS.labels(self._settings.namespace, "wait_timeout").inc()
            raise Unavailable(QUERY_TOO_SLOW) from None

    def bump_generation(self) -> None:
        """Called after every committed write; a failure is logged (entries then expire by TTL)."""
        try:
            self._redis.incr(self.generation_key)
        except redis.RedisError as error:
            log.warning(
                "cache generation not bumped: redis unreachable", extra={"error": type(error).__name__}
            )

    def _get(self, digest: str, gate: deferred_rate_limit.DeferredCheck | None) -> tuple[str, bytes | None]:
        prefix = f"{self._settings.namespace}:resp:"
        if gate is None:
            result = self._lookup(keys=[self.generation_key], args=[prefix, digest])
        else:
            reply = self._gated_lookup(
                keys=[self.generation_key, gate.key],
                args=[prefix, digest, *gate.script_args()],
            )
            rate_limit.enforce(gate.answer(reply[:4]), gate.route)
            result = reply[4:]
        # A nil value ends a Lua array, so a miss comes back one element short.
        generation = result[0].decode()
        return generation, (result[1] if len(result) > 1 and result[1] else None)

    def _wait_budget(self) -> float:
        """How long a caller may wait for another's computation: the settings', or less if the
        call's deadline is nearer."""
        remaining = request_context.time_remaining()
        return (
            self._settings.wait_seconds if remaining is None else min(self._settings.wait_seconds, remaining)
        )

    def _value_key(self, generation: str, digest: str) -> str:
        return f"{self._settings.namespace}:resp:{generation}:{digest}"

    def _fill(self, key: str, compute: Callable[[], bytes]) -> bytes:
        lock_key, token = f"{key}:lock", uuid.uuid4().hex
        try:
            leader = bool(
                self._redis.set(lock_key, token, nx=True, px=int(self._settings.lock_ttl_seconds * 1000))
            )
            if not leader:
                waited = self._wait_for(key, lock_key)
                if waited is not None:
                    CACHE_EVENTS.labels(self._settings.namespace, "shared").inc()
                    return waited
                CACHE_EVENTS.labels(self._settings.namespace, "wait_timeout").inc()
            try:
                value = compute()
                self._redis.set(key, value, ex=self._settings.ttl_seconds)
            finally:
                if leader:  # also when compute failed: waiters stop waiting and try themselves
                    self._release(keys=[lock_key], args=[token])
            return value
        except redis.RedisError as error:
            self._mark_redis_down(error)
            return self._compute_degraded(compute)

    def _wait_for(self, key: str, lock_key: str) -> bytes | None:
        """The leader's result; None after the bounded wait or as soon as the leader gave up."""
        deadline = time.monotonic() + self._wait_budget()
        delay = 0.005
        while time.monotonic() < deadline:
            time.sleep(delay)
            value, lock = self._redis.mget(key, lock_key)
            if isinstance(value, bytes):
                return value
            if lock is None:
                return None  # the leader released without a result (it failed, or its entry expired)
            delay = min(delay * 1.5, 0.05)
        return None

    def _compute_degraded(self, compute: Callable[[], bytes]) -> bytes:
        CACHE_EVENTS.labels(self._settings.namespace, "degraded").inc()
        return compute()

    def _mark_redis_down(self, error: redis.RedisError) -> None:
        if self._redis_down.trip():
            log.warning("cache bypassed: redis unreachable", extra={"error": type(error).__name__})
