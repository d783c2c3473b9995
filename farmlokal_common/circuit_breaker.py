"""A circuit breaker per upstream, shared by every replica through Redis, on pybreaker's state machine.

pybreaker 1.4's sharp edges (docs field-notes) and what this module does about each:

- `CircuitBreaker.call` holds a lock around the wrapped call, so calls through one breaker run one
  at a time. The HTTP call never runs inside it: `acquire()` decides before the call, and
  `succeeded()` / `failed()` report the outcome afterwards through a trivial call, so the lock is
  held for a few Redis round trips only.
- An excluded exception counts as a success and resets the failure count. Outcomes that say
  nothing about the upstream's health (4xx) are not reported at all (`neutral()`).
- Half-open lets every caller through, in every replica. Here one probe at a time across all
  replicas holds a Redis `SET NX` token with a TTL (a probe that dies frees it at the TTL); the
  others fail fast until the probe reports.
- `opened_at` is kept in whole seconds (truncated), so pybreaker may half-open up to a second
  early: the reset timeout is measured from a millisecond timestamp of our own.
- The stock storage raises from its constructor when Redis is down: construction tolerates it.
- An instance that notices another replica closed the breaker resets the shared failure count,
  wiping failures counted meanwhile; adopting a state here keeps the count.
- A Redis error makes the storage report "closed": with Redis down the breaker fails open. Each
  Redis command on a dead server costs its timeout (about 3 s with redis-py 8's default retries,
  measured), so after an error this process skips Redis for `redis_retry_seconds` and lets calls
  through unreported; `breaker_redis()` builds a client without retries for the breaker.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pybreaker
import redis
from redis.exceptions import RedisError

from farmlokal_common import redis_client
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import BREAKER_STATE, BREAKER_TRANSITIONS
from farmlokal_common.outage import Backoff
from farmlokal_common.redis_scripts import register_script
from farmlokal_common.settings import ServiceSettings

log = logging.getLogger("farmlokal.circuit_breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_NAMES = {pybreaker.STATE_CLOSED: CLOSED, pybreaker.STATE_OPEN: OPEN, pybreaker.STATE_HALF_OPEN: HALF_OPEN}

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class BreakerSettings:
    fail_max: int = 5  # consecutive failures that open the breaker
    reset_timeout_seconds: float = 30.0  # open this long before one probe may go through
    probe_ttl_seconds: float = 10.0  # a probe that never reports frees its token after this
    redis_retry_seconds: float = 5.0  # after a Redis error, fail open without asking Redis this long


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; `probe_token` is set when the call is the half-open probe."""

    probe_token: str | None = None
    shared: bool = True  # False: Redis was down, the outcome is not reported anywhere


class CircuitOpen(Unavailable):
    """Fail fast: the upstream's breaker is open (or another replica's probe is in flight)."""

    def __init__(self, upstream: str, retry_in_seconds: float, reason: str = "circuit breaker open") -> None:
        super().__init__(f"{upstream} is unavailable: {reason}; next try in {retry_in_seconds:.1f} s")
        self.upstream = upstream
        self.retry_in_seconds = retry_in_seconds


class _UpstreamFailure(Exception):
    """What the trivial call raises to report a failure through pybreaker."""


class _SharedStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, tolerant of Redis being down at start-up, and able to keep the
    failure count while this instance adopts a state another replica set (pybreaker resets the
    shared count whenever an instance notices "closed", wiping failures other replicas counted)."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._noticing = threading.local()
        super().__init__(pybreaker.STATE_CLOSED, client, namespace=namespace)

    def _initialize_redis_state(self, state: str) -> None:
        with contextlib.suppress(RedisError):  # the stock storage raises here when Redis is down
            super()._initialize_redis_state(state)

    @contextlib.contextmanager
    def noticing(self) -> Iterator[None]:
        self._noticing.active = True
        try:
            yield
        finally:
            self._noticing.active = False

    def reset_counter(self) -> None:
        if not getattr(self._noticing, "active", False):
            super().reset_counter()


class _MetricsListener(pybreaker.CircuitBreakerListener):
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        before = _NAMES.get(old_state.name, "unknown") if old_state else "unknown"
        after = _NAMES.get(new_state.name, "unknown")
        BREAKER_TRANSITIONS.labels(self._upstream, before, after).inc()
        log.info("circuit breaker state changed", extra={"upstream": self._upstream, "to": after})


def breaker_redis(settings: ServiceSettings) -> redis.Redis:
    """A client for breakers from the one Redis factory: bytes (pybreaker needs them), short timeouts,
    no retries on errors, and the Sentinel's master when the service uses Sentinel."""
    return redis_client.connect(
        redis_client.RedisTarget.from_settings(settings), settings.redis_socket_timeout_seconds
    )


def _noop() -> None:
    return None


def _fail() -> None:
    raise _UpstreamFailure


class UpstreamBreaker:
    def __init__(self, upstream: str, client: redis.Redis, settings: BreakerSettings) -> None:
        """`client` must return bytes (no decode_responses), as pybreaker's Redis storage needs."""
        self.upstream = upstream
        self._redis = client
        self._settings = settings
        # Hash-tagged: the state, opened-at and probe keys share a Redis Cluster slot.
        prefix = f"farmlokal:breaker:{{{upstream}}}"
        self._state_key = f"{prefix}:pybreaker:state"  # where CircuitRedisStorage keeps it
        self._opened_key = f"{prefix}:opened_at_ms"
        self._probe_key = f"{prefix}:probe"
        self._release_script = register_script(client, _RELEASE)
        self._redis_down = Backoff(settings.redis_retry_seconds)
        self._synced_state = pybreaker.STATE_CLOSED
        self._storage = _SharedStorage(client, prefix)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_timeout_seconds,
            state_storage=self._storage,
            name=upstream,
            listeners=[_MetricsListener(upstream)],
        )

    @property
    def state(self) -> str:
        """closed, open or half_open as every replica sees it (closed when Redis is unreachable)."""
        return _NAMES.get(self._breaker.current_state, CLOSED)

    @property
    def failure_count(self) -> int:
        return self._breaker.fail_counter

    def acquire(self) -> Permit:
        """A permit to call now, or CircuitOpen. Also syncs this instance with the shared state."""
        state = self._shared_state()
        if state is None:
            return Permit(shared=False)
        self._show(state)
        if state == pybreaker.STATE_CLOSED:
            return Permit()
        if state == pybreaker.STATE_OPEN:
            wait = self._seconds_until_probe()
            if wait > 0:
                raise CircuitOpen(self.upstream, wait)
        token = self._take_probe_token()
        if token is None:
            raise CircuitOpen(self.upstream, 0.5, "a recovery probe is in flight")
        if state == pybreaker.STATE_OPEN:
            with contextlib.suppress(RedisError):
                self._redis.delete(self._opened_key)
            self._breaker.half_open()
            self._synced_state = pybreaker.STATE_HALF_OPEN
            self._show(pybreaker.STATE_HALF_OPEN)
        return Permit(token)

    def ensure_callable(self) -> None:
        """Raises CircuitOpen when a call now would be refused; takes no permit and changes nothing."""
        if self._shared_state() == pybreaker.STATE_OPEN:
            wait = self._seconds_until_probe()
            if wait > 0:
                raise CircuitOpen(self.upstream, wait)

    def succeeded(self, permit: Permit) -> None:
        """The upstream answered well: resets the failure count, or closes after a probe."""
        if not permit.shared:
            return
        try:
            if permit.probe_token is None and self._breaker.current_state != pybreaker.STATE_CLOSED:
                return  # a late answer after another caller opened it: only the probe may close it
            self._adopt_shared_state()
            with contextlib.suppress(pybreaker.CircuitBreakerError):
                self._breaker.call(_noop)
            if permit.probe_token is not None:
                self._synced_state = pybreaker.STATE_CLOSED
                self._show(pybreaker.STATE_CLOSED)
        finally:
            self._release(permit)

    def failed(self, permit: Permit) -> None:
        """The upstream failed (5xx, 408, 429, timeout, connection): counts towards opening."""
        if not permit.shared:
            return
        try:
            if permit.probe_token is None and self._breaker.current_state != pybreaker.STATE_CLOSED:
                return  # already open (or probing): one failure more changes nothing
            self._adopt_shared_state()
            try:
                self._breaker.call(_fail)
            except pybreaker.CircuitBreakerError:
                self._mark_opened()  # this failure reached the threshold, or the probe failed
            except _UpstreamFailure:
                pass
        finally:
            self._release(permit)

    def neutral(self, permit: Permit) -> None:
        """A 4xx: the upstream is up but refused the request; neither a failure nor a success."""
        self._release(permit)

    # -- internals -------------------------------------------------------------------------------

    def _shared_state(self) -> str | None:
        """pybreaker's state name from Redis, or None while Redis is down (one slow error per window)."""
        if self._redis_down.active():
            return None
        try:
            raw = self._redis.get(self._state_key)
        except RedisError as error:
            self._redis_down.trip()
            log.warning(
                "circuit breaker state unreachable; failing open",
                extra={"upstream": self.upstream, "error": type(error).__name__},
            )
            return None
        state = raw.decode() if isinstance(raw, bytes) else pybreaker.STATE_CLOSED
        if state != self._synced_state:
            state = self._adopt_shared_state()
        return state

    def _adopt_shared_state(self) -> str:
        """Reading `state` makes this pybreaker instance adopt a change another replica made."""
        with self._storage.noticing():
            self._synced_state = self._breaker.state.name
        return self._synced_state

    def _seconds_until_probe(self) -> float:
        try:
            raw = self._redis.get(self._opened_key)
        except RedisError:
            return 0.0
        if isinstance(raw, bytes):
            opened_at = int(raw) / 1000
        else:  # opened by a process that did not record it: pybreaker's whole seconds, rounded up
            stored = self._breaker._state_storage.opened_at
            opened_at = stored.timestamp() + 1 if stored else 0.0
        return max(0.0, opened_at + self._settings.reset_timeout_seconds - time.time())

    def _mark_opened(self) -> None:
        # NX: the first replica to open this episode sets the time; half_open() deletes it.
        with contextlib.suppress(RedisError):
            self._redis.set(self._opened_key, int(time.time() * 1000), nx=True)
        self._synced_state = pybreaker.STATE_OPEN
        self._show(pybreaker.STATE_OPEN)

    def _take_probe_token(self) -> str | None:
        token = secrets.token_hex(8)
        ttl_ms = int(self._settings.probe_ttl_seconds * 1000)
        try:
            return token if self._redis.set(self._probe_key, token, nx=True, px=ttl_ms) else None
        except RedisError:
            return token  # with Redis down the state reads closed anyway: nothing to coordinate

    def _release(self, permit: Permit) -> None:
        if permit.probe_token is not None:
            with contextlib.suppress(RedisError):
                self._release_script(keys=[self._probe_key], args=[permit.probe_token])

    def _show(self, pybreaker_state: str) -> None:
        current = _NAMES.get(pybreaker_state, CLOSED)
        for name in (CLOSED, OPEN, HALF_OPEN):
            BREAKER_STATE.labels(self.upstream, name).set(1 if name == current else 0)
