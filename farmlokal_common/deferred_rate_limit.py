"""A rate-limit check handed from the interceptor to the response cache, answered in the cache's own
Redis round trip (its lookup script includes GCRA_FUNCTION).

The interceptor defers the check of a cached route for the call (`defer`), the cache takes it
(`take_deferred`) and answers it with its lookup; a check the call never reached is made by the
interceptor after the call (`check_now`), so every request is counted.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import redis

from farmlokal_common.rate_limit import Decision, Limit, RateLimiter, arrival_age_ms


@dataclass
class DeferredCheck:
    """A rate-limit check handed from the interceptor to the response cache, which answers it in the
    same Redis round trip as its lookup; `decision` is set once it has been answered."""

    limiter: RateLimiter
    route: str
    client_key: str
    limit: Limit
    decision: Decision | None = None
    done: bool = False

    @property
    def key(self) -> str:
        return self.limiter.key(self.route, self.client_key)

    def script_args(self) -> list[float]:
        """The arguments of GCRA_FUNCTION's gcra() after the key: emission, burst, arrival age."""
        return [self.limit.emission_ms, self.limit.requests, arrival_age_ms()]

    def answer(self, reply: list[object] | None, error: redis.RedisError | None = None) -> Decision | None:
        """Records the script's reply (None with the Redis error: fail open)."""
        self.done = True
        if reply is None:
            if error is not None:
                self.limiter.fail_open(error)
            return None
        self.decision = Decision.from_script(self.limit, reply)
        return self.decision

    def check_now(self) -> Decision | None:
        """The standalone check, for paths that do not reach the cache lookup."""
        self.done = True
        self.decision = self.limiter.check(self.route, self.client_key)
        return self.decision


_deferred: contextvars.ContextVar[DeferredCheck | None] = contextvars.ContextVar(
    "deferred_check", default=None
)


def defer(check: DeferredCheck) -> contextvars.Token[DeferredCheck | None]:
    return _deferred.set(check)


def undefer(token: contextvars.Token[DeferredCheck | None]) -> None:
    _deferred.reset(token)


def take_deferred() -> DeferredCheck | None:
    """The current call's deferred check, if it has not been answered yet."""
    check = _deferred.get()
    return check if check is not None and not check.done else None
