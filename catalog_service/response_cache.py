"""Redis response cache keyed by a canonical query and a generation number, with single-flight.

- A write bumps the generation, so every entry made before it stops being addressed at once. The
  generation also carries the replication floor its entries are computed at, and a record a promoted
  Redis replica inherited is re-derived before use (farmlokal_common/cache_generation.py).
- On a miss, threads of one process coalesce (SingleFlight) and processes coalesce through a
  Redis lock (SET NX PX unless the value is there by then, compare-and-delete release, released with
  the fill): one computes, the others poll for its result for a bounded time, then compute themselves.
- Redis down: the cache steps aside for a short back-off and computations run from the database;
  it comes back by itself. How many run at once is the database bulkhead's bound
  (farmlokal_common/bulkhead.py), the same one every database call of a serving thread passes.
- The cache off (CATALOG_CACHE_ENABLED=false), and reads that are never cached (GetProduct): the
  generation's floor comes back with the call's rate-limit check in one round trip (read_floor).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from catalog_service.cache_generation import LUA_HELPERS, Generation, Generations
from farmlokal_common import rate_limit, request_context
from farmlokal_common.admission import Admission
from farmlokal_common.dependency_errors import QUERY_TOO_SLOW
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import CACHE_EVENTS
from farmlokal_common.outage import Backoff
from farmlokal_common.rate_limit import GCRA_FUNCTION
from farmlokal_common.redis_scripts import register_script
from farmlokal_common.single_flight import SingleFlight

log = logging.getLogger("farmlokal.cache")

# The entry's key is built here from the generation (ARGV[1] .. id .. ':' .. ARGV[2]): it shares the
# record's hash tag, so on Redis Cluster it is in the record's slot. Reply: {generation, floor, value};
# {'', ''} when the record is stale (then nothing is looked up: the caller re-derives it first).
_LOOKUP = (
    LUA_HELPERS
    + """
local generation = current_generation(KEYS[1])
if not generation then return {'', ''} end
return {generation[1], generation[2], redis.call('GET', ARGV[1] .. generation[1] .. ':' .. ARGV[2])}
"""
)
# The same lookup preceded by the call's rate-limit check (KEYS[2], in the same slot): one round
# trip for both. A rejected request does no lookup.
# Reply: {allowed, remaining, retry_ms, reset_ms, generation, floor, value}.
_GATED_LOOKUP = (
    GCRA_FUNCTION
    + LUA_HELPERS
    + """
local gate = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if gate[1] == 0 then return gate end
local generation = current_generation(KEYS[1])
if not generation then
  gate[5], gate[6] = '', ''
  return gate
end
gate[5], gate[6] = generation[1], generation[2]
gate[7] = redis.call('GET', ARGV[1] .. generation[1] .. ':' .. ARGV[2])
return gate
"""
)
# The rate-limit check and the generation a read must reflect, for a computation that is not cached
# (the cache off): one round trip for both. Reply: {allowed, remaining, retry_ms, reset_ms,
# generation, floor}; generation '' when the record is stale.
_GATED_FLOOR = (
    GCRA_FUNCTION
    + LUA_HELPERS
    + """
local gate = gcra(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if gate[1] == 0 then return gate end
local generation = current_generation(KEYS[1])
if generation then gate[5], gate[6] = generation[1], generation[2] else gate[5], gate[6] = '', '' end
return gate
"""
)
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The single-flight lock (KEYS[2], token ARGV[1], PX ARGV[2]) unless the value (KEYS[1]) is there
# already: a caller whose lookup missed just before another's fill finds that value instead of
# computing it again. Reply: {2, value}, {1} (the lock is ours) or {0} (another caller holds it).
_LOCK_OR_VALUE = """
local value = redis.call('GET', KEYS[1])
if value then return {2, value} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return {1} end
return {0}
"""
# The leader's fill: the value (KEYS[1], ARGV[1], ttl ARGV[2]) and its lock's release (KEYS[2],
# compare-and-delete with the token ARGV[3]) in one round trip. A waiter polling MGET(value, lock)
# sees the value before the lock goes.
_FILL_AND_RELEASE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
if redis.call('GET', KEYS[2]) == ARGV[3] then return redis.call('DEL', KEYS[2]) end
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
    # A bump that fails (Redis unreachable, e.g. during a failover) is tried again this long before
    # the write returns without it.
    bump_retry_seconds: float = 3.0


# A computation of a listing: given the replication floor it must read at (None: unknown, read the
# primary), the serialized response.
Compute = Callable[[str | None], bytes]


class ResponseCache:
    def __init__(
        self,
        client: redis.Redis,
        settings: CacheSettings,
        primary_floor: Callable[[], str] = lambda: "",
    ) -> None:
        """`primary_floor` gives the MySQL primary's current replication position: the floor of a
        generation re-derived after a Redis failover (farmlokal_common/cache_generation.py)."""
        self._redis = client
        self._settings = settings
        self._lookup = register_script(client, _LOOKUP)
        self._gated_lookup = register_script(client, _GATED_LOOKUP)
        self._gated_floor = register_script(client, _GATED_FLOOR)
        self._release = register_script(client, _RELEASE)
        self._fill_and_release = register_script(client, _FILL_AND_RELEASE)
        self._lock_or_value = register_script(client, _LOCK_OR_VALUE)
        self._flight: SingleFlight[bytes] = SingleFlight()
        self._redis_down = Backoff(settings.redis_backoff_seconds)
        self.generations = Generations(client, settings.namespace, primary_floor)
        self.generation_key = self.generations.key
        self._prefix = f"{{{settings.namespace}}}:resp:"

    def get_or_compute(
        self, canonical_query: str, compute: Callable[[], bytes], admission: Admission | None = None
    ) -> bytes:
        """get_or_compute_at for a computation that does not care where it reads."""
        return self.get_or_compute_at(canonical_query, lambda _floor: compute(), admission)

    def get_or_compute_at(
        self, canonical_query: str, compute: Compute, admission: Admission | None = None
    ) -> bytes:
        """The cached value, or compute(floor) once per key, where floor is the generation's
        replication floor: an entry is never older than the generation it is filed under. The
        call's admission (its rate-limit check), when given, is answered first, in the same Redis
        round trip as the lookup; a rejected call does no lookup."""
        gate = admission if admission is not None and not admission.done else None
        if not self._settings.enabled:
            return compute(self.read_floor(gate))
        if self._redis_down.active():
            if gate is not None:
                rate_limit.enforce(gate.check_now(), gate.route)
            return self._compute_degraded(compute)
        digest = hashlib.sha256(canonical_query.encode()).hexdigest()[:32]
        try:
            generation, cached = self._get(digest, gate)
            if generation is None:
                rederived = self.generations.rederive()
                if rederived is None:
                    return self._compute_degraded(compute)
                generation, cached = self._get(digest, None)
        except redis.RedisError as error:
            if gate is not None and not gate.done:
                gate.answer(None, error)
            self._mark_redis_down(error)
            return self._compute_degraded(compute)
        if cached is not None:
            CACHE_EVENTS.labels(self._settings.namespace, "hit").inc()
            return cached
        if generation is None:  # stale again at once (another failover): read the primary
            return self._compute_degraded(compute)
        CACHE_EVENTS.labels(self._settings.namespace, "miss").inc()
        key = self._value_key(generation.number, digest)
        floor = generation.floor
        try:
            return self._flight.do(key, lambda: self._fill(key, lambda: compute(floor)), self._wait_budget())
        except TimeoutError:
            CACHE_EVENTS.labels(self._settings.namespace, "wait_timeout").inc()
            raise Unavailable(QUERY_TOO_SLOW) from None

    def read_floor(self, admission: Admission | None = None) -> str | None:
        """The floor a read that is not cached must reflect (GetProduct, or any read with the cache
        off); None when Redis cannot tell (then the read goes to the primary). The call's admission
        (its rate-limit check), when given, is answered first, in the same Redis round trip; a
        rejected call raises RateLimited."""
        gate = admission if admission is not None and not admission.done else None
        if gate is None:
            if self._redis_down.active():
                return None
            try:
                generation = self.generations.current()
            except redis.RedisError as error:
                self._mark_redis_down(error)
                return None
            return generation.floor if generation is not None else None
        if self._redis_down.active():
            rate_limit.enforce(gate.check_now(), gate.route)
            return None
        try:
            reply = self._gated_floor(keys=[self.generation_key, gate.key], args=gate.script_args())
        except redis.RedisError as error:
            gate.answer(None, error)
            self._mark_redis_down(error)
            return None
        rate_limit.enforce(gate.answer(reply[:4]), gate.route)
        if reply[4]:
            return str(reply[5].decode())
        try:  # the record is stale (a promoted Redis replica): re-derive it, as current() does
            generation = self.generations.rederive()
        except redis.RedisError as error:
            self._mark_redis_down(error)
            return None
        return generation.floor if generation is not None else None

    def bump_generation(self, gtid: str = "") -> None:
        """Called after every committed write with its replication position ('' without a binary
        log). Tried again for bump_retry_seconds (at most what is left of the call's deadline) when
        Redis does not answer; a bump that never lands is logged and counted (entries from before the
        write may then be served until their TTL, unless a failover re-derives the generation)."""
        remaining = request_context.time_remaining()
        budget = self._settings.bump_retry_seconds
        deadline = time.monotonic() + (
            budget if remaining is None else max(0.0, min(budget, remaining - 0.5))
        )
        delay = 0.05
        while True:
            try:
                self.generations.bump(gtid)
                return
            except redis.RedisError as error:
                if time.monotonic() + delay >= deadline:
                    CACHE_EVENTS.labels(self._settings.namespace, "bump_failed").inc()
                    log.warning(
                        "cache generation not bumped: redis unreachable",
                        extra={"error": type(error).__name__},
                    )
                    return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _get(self, digest: str, gate: Admission | None) -> tuple[Generation | None, bytes | None]:
        """(generation, cached value); generation None when the record is stale."""
        if gate is None:
            result = self._lookup(keys=[self.generation_key], args=[self._prefix, digest])
        else:
            reply = self._gated_lookup(
                keys=[self.generation_key, gate.key],
                args=[self._prefix, digest, *gate.script_args()],
            )
            rate_limit.enforce(gate.answer(reply[:4]), gate.route)
            result = reply[4:]
        number = result[0].decode()
        if not number:
            return None, None
        # A nil value ends a Lua array, so a miss comes back one element short.
        return Generation(number, result[1].decode()), (result[2] if len(result) > 2 and result[2] else None)

    def _wait_budget(self) -> float:
        """How long a caller may wait for another's computation: the settings', or less if the
        call's deadline is nearer."""
        remaining = request_context.time_remaining()
        return (
            self._settings.wait_seconds if remaining is None else min(self._settings.wait_seconds, remaining)
        )

    def _value_key(self, generation: str, digest: str) -> str:
        return f"{self._prefix}{generation}:{digest}"

    def _fill(self, key: str, compute: Callable[[], bytes]) -> bytes:
        lock_key, token = f"{key}:lock", uuid.uuid4().hex
        try:
            reply = self._lock_or_value(
                keys=[key, lock_key], args=[token, int(self._settings.lock_ttl_seconds * 1000)]
            )
            if reply[0] == 2:  # filled since this call's lookup
                CACHE_EVENTS.labels(self._settings.namespace, "shared").inc()
                return bytes(reply[1])
            leader = reply[0] == 1
            if not leader:
                waited = self._wait_for(key, lock_key)
                if waited is not None:
                    CACHE_EVENTS.labels(self._settings.namespace, "shared").inc()
                    return waited
                CACHE_EVENTS.labels(self._settings.namespace, "wait_timeout").inc()
            try:
                value = compute()
            except BaseException:
                if leader:  # waiters stop waiting and try themselves
                    self._release(keys=[lock_key], args=[token])
                raise
            if leader:
                self._fill_and_release(keys=[key, lock_key], args=[value, self._settings.ttl_seconds, token])
            else:
                self._redis.set(key, value, ex=self._settings.ttl_seconds)
            return value
        except redis.RedisError as error:
            self._mark_redis_down(error)
            CACHE_EVENTS.labels(self._settings.namespace, "degraded").inc()
            return compute()  # the generation's floor is known: no need to read the primary

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

    def _compute_degraded(self, compute: Compute) -> bytes:
        """Without a trustworthy generation: computed at an unknown floor (the primary)."""
        CACHE_EVENTS.labels(self._settings.namespace, "degraded").inc()
        return compute(None)

    def _mark_redis_down(self, error: redis.RedisError) -> None:
        if self._redis_down.trip():
            log.warning("cache bypassed: redis unreachable", extra={"error": type(error).__name__})
