"""Rate-limit checks a service answers itself: the catalog's read routes check the limit inside the
response cache's own Redis round trip (its lookup and floor scripts include rate_limit.GCRA_FUNCTION).

The rate-limit interceptor opens an Admission for every call of such a route (`Admissions.open`);
the servicer takes it (`Admissions.of(context)`) and passes it down as an argument to the response
cache, which answers it with its lookup or its floor (`answer`), or checks it alone (`check_now`)
when Redis is down. A call that never got that far (bad input) is checked by the interceptor after it,
so every request is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass

import grpc
import redis

from farmlokal_common.rate_limit import Decision, Limit, RateLimiter, arrival_age_ms


@dataclass
class Admission:
    """One call's rate-limit check, answered where the service chooses; `decision` is set once answered."""

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
        """The standalone check, for paths that do not reach a combined lookup."""
        self.done = True
        self.decision = self.limiter.check(self.route, self.client_key)
        return self.decision


class Admissions:
    """The open admissions of the calls in flight, by call; shared by the interceptor and the servicers
    of the routes listed (their bootstrap wires both with the same instance)."""

    def __init__(self, routes: Collection[str]) -> None:
        self.routes = frozenset(routes)
        self._open: dict[int, Admission] = {}
        self._lock = threading.Lock()

    def open(self, context: grpc.ServicerContext, admission: Admission) -> None:
        with self._lock:
            self._open[id(context)] = admission

    def close(self, context: grpc.ServicerContext) -> None:
        with self._lock:
            self._open.pop(id(context), None)

    def of(self, context: grpc.ServicerContext) -> Admission | None:
        """The call's admission, to pass to where it is answered; None when the route has no limit."""
        with self._lock:
            return self._open.get(id(context))
