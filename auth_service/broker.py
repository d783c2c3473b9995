"""The token broker: one provider call per expiry window across every replica and thread.

- Valid and not near expiry: served from Redis.
- Near expiry (within the refresh skew): one caller, holding the Redis refresh lock, refreshes in
  the background while every caller keeps using the still-valid token.
- Missing or expired: threads of one process coalesce (SingleFlight); processes coalesce on the
  Redis lock (random value, TTL, compare-and-delete release, bounded wait). Waiters poll Redis for
  the new token. A final provider refusal is remembered briefly so waiters share it instead of
  calling the provider again.
- Redis down: the process serves the last token it read from Redis while it is not near expiry (so
  a Redis failover costs no provider call), else fetches for itself (one call per process) and keeps
  a local copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.exceptions import LockError

from auth_service.provider import FetchOutcome, ProviderRejected, TokenProvider
from auth_service.tokens import Token
from farmlokal_common.errors import Unavailable
from farmlokal_common.redis_scripts import register_script
from farmlokal_common.single_flight import SingleFlight

log = logging.getLogger("farmlokal.auth.broker")

_INVALIDATE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
if cjson.decode(raw)['fingerprint'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class BrokerSettings:
    namespace: str  # identifies provider + client, so two configurations never share a token
    refresh_skew_seconds: float = 60.0
    lock_ttl_seconds: float = 15.0
    lock_wait_seconds: float = 10.0
    rejection_memory_seconds: float = 10.0
    poll_seconds: float = 0.02


@dataclass(frozen=True)
class Lease:
    token: Token
    source: str  # "cache" or "provider"


class TokenBroker:
    def __init__(
        self,
        client: redis.Redis,
        provider: TokenProvider,
        settings: BrokerSettings,
        record: Callable[[FetchOutcome, str, str], None] = lambda *_: None,
    ) -> None:
        self._redis = client
        self._provider = provider
        self._settings = settings
        self._record = record
        self._flight: SingleFlight[Lease] = SingleFlight()
        self._invalidate = register_script(client, _INVALIDATE)
        self._local: dict[str, Token] = {}

    def get(self, audience: str, scope: str) -> Lease:
        key = self._key(audience, scope)
        try:
            token = self._read(key)
        except redis.RedisError:
            return self._flight.do(key, lambda: self._without_redis(key, audience, scope))
        if token is not None:
            self._local[key] = token
        if token is not None and token.seconds_left() > self._settings.refresh_skew_seconds:
            return Lease(token, "cache")
        if token is not None and token.seconds_left() > 0:
            self._refresh_in_background(key, audience, scope)
            return Lease(token, "cache")
        return self._flight.do(key, lambda: self._refresh(key, audience, scope))

    def invalidate(self, fingerprint: str, audience: str, scope: str) -> bool:
        """Drops the cached token only if it is still the one with this fingerprint."""
        key = self._key(audience, scope)
        local = self._local.get(key)
        if local is not None and local.fingerprint == fingerprint:
            self._local.pop(key, None)
        try:
            return bool(self._invalidate(keys=[key], args=[fingerprint]))
        except redis.RedisError:
            return local is not None and local.fingerprint == fingerprint

    # -- internals -------------------------------------------------------------------------------

    def _key(self, audience: str, scope: str) -> str:
        digest = hashlib.sha256(f"{self._settings.namespace}|{audience}|{scope}".encode()).hexdigest()[:24]
        # Hash-tagged: the token, its refresh lock and its rejection share a Redis Cluster slot.
        return f"auth:token:{{{digest}}}"

    def _read(self, key: str) -> Token | None:
        raw = self._redis.get(key)
        return Token.from_json(raw) if isinstance(raw, bytes) else None

    def _store(self, key: str, token: Token) -> None:
        ttl_ms = int(token.seconds_left() * 1000)
        if ttl_ms > 0:
            self._redis.set(key, token.to_json(), px=ttl_ms)

    def _lock(self, key: str) -> redis.lock.Lock:
        return self._redis.lock(
            f"{key}:refresh", timeout=self._settings.lock_ttl_seconds, blocking=False, thread_local=False
        )

    def _fetch(self, key: str, audience: str, scope: str) -> Token:
        try:
            token = self._provider.fetch(
                audience, scope, lambda outcome: self._record(outcome, audience, scope)
            )
        except ProviderRejected as error:
            self._redis.set(
                f"{key}:rejected", error.message, px=int(self._settings.rejection_memory_seconds * 1000)
            )
            raise
        self._store(key, token)
        return token

    def _refresh(self, key: str, audience: str, scope: str) -> Lease:
        deadline = time.monotonic() + self._settings.lock_wait_seconds
        lock = self._lock(key)
        while True:
            token = self._read(key)
            if token is not None and token.seconds_left() > 1:
                return Lease(token, "cache")
            rejected = self._redis.get(f"{key}:rejected")
            if isinstance(rejected, bytes):
                raise ProviderRejected(rejected.decode())
            if lock.acquire():
                try:
                    # Someone may have refreshed, or been refused, between our reads and the lock.
                    token = self._read(key)
                    if token is not None and token.seconds_left() > self._settings.refresh_skew_seconds:
                        return Lease(token, "cache")
                    rejected = self._redis.get(f"{key}:rejected")
                    if isinstance(rejected, bytes):
                        raise ProviderRejected(rejected.decode())
                    return Lease(self._fetch(key, audience, scope), "provider")
                finally:
                    self._release(lock)
            if time.monotonic() >= deadline:
                raise Unavailable("a token refresh by another replica did not finish in time; retry shortly")
            time.sleep(self._settings.poll_seconds)

    def _refresh_in_background(self, key: str, audience: str, scope: str) -> None:
        lock = self._lock(key)
        try:
            if not lock.acquire():
                return
        except redis.RedisError:
            return

        def refresh() -> None:
            try:
                self._fetch(key, audience, scope)
            except Exception as error:  # the still-valid token keeps serving; the next caller retries
                log.warning("early token refresh failed", extra={"error": type(error).__name__})
            finally:
                self._release(lock)

        threading.Thread(target=refresh, name="token-refresh", daemon=True).start()

    def _without_redis(self, key: str, audience: str, scope: str) -> Lease:
        token = self._local.get(key)
        if token is not None and token.seconds_left() > self._settings.refresh_skew_seconds:
            return Lease(token, "cache")
        token = self._provider.fetch(audience, scope, lambda outcome: self._record(outcome, audience, scope))
        self._local[key] = token
        return Lease(token, "provider")

    @staticmethod
    def _release(lock: redis.lock.Lock) -> None:
        # Expired and maybe taken by another replica: the compare-and-delete leaves its key alone.
        with contextlib.suppress(LockError, redis.RedisError):
            lock.release()
