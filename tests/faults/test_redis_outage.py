"""Redis killed or unreachable during a listing load: listing keeps answering from MySQL, the cache
comes back by itself when Redis does."""

from __future__ import annotations

import time

from tests.faults.background_load import BackgroundLoad
from tests.faults.conftest import FaultStack, wait_until

# A mix of cached listings (first pages of common queries), as a storefront sends them.
LISTINGS = [
    ("/v1/products", {"limit": "20"}),
    ("/v1/products", {"limit": "20", "sort": "price", "order": "asc"}),
    ("/v1/products", {"limit": "20", "category": "Fruits"}),
    ("/v1/products", {"limit": "10", "min_price": "100", "max_price": "300", "sort": "price"}),
    ("/v1/categories", {}),
]
# Errors may come from requests that were in flight when Redis died; "during the kill" is this long.
KILL_WINDOW_S = 2.0


def warm(stack: FaultStack) -> None:
    with stack.edge.client() as http:
        for path, params in LISTINGS:
            assert http.get(path, params=params).status_code == 200


def test_redis_killed_mid_load_listing_keeps_answering_and_the_cache_resumes(stack: FaultStack) -> None:
    warm(stack)
    before = stack.edge.cache_events()
    with BackgroundLoad(stack.edge.base_url, LISTINGS, rate=20) as load:
        time.sleep(2)
        killed_at = time.monotonic()
        stack.redis.process.process.kill()  # SIGKILL: no goodbye to the clients
        stack.redis.process.process.wait(5)
        time.sleep(6)
        down = stack.edge.cache_events()
        restarted_at = time.monotonic()
        stack.redis.start()
        time.sleep(4)
        load.stop()

    served_from_mysql = down.get("degraded", 0) - before.get("degraded", 0)
    assert served_from_mysql >= 50, f"expected listings served from MySQL while Redis was down: {down}"

    outage_errors = load.errors(killed_at + KILL_WINDOW_S, restarted_at)
    assert outage_errors == [], f"errors after the kill window: {outage_errors[:3]}"
    kill_errors = load.errors(killed_at, killed_at + KILL_WINDOW_S)
    print(
        f"errors during the kill: {len(kill_errors)} of {len(load.between(killed_at, killed_at + KILL_WINDOW_S))}"
    )
    assert len(kill_errors) <= 5, f"{len(kill_errors)} errors during the kill: {kill_errors[:3]}"
    assert load.errors(0, killed_at) == []
    answered_during_outage = load.between(killed_at + KILL_WINDOW_S, restarted_at)
    assert len(answered_during_outage) >= 20  # about 80 at 20 req/s on a quiet box; all were 200

    # Redis back (empty): the cache fills and hits grow again.
    assert load.errors(restarted_at, float("inf")) == []

    def hits_growing() -> bool:
        first = stack.edge.cache_events().get("hit", 0)
        warm(stack)
        return stack.edge.cache_events().get("hit", 0) >= first + len(LISTINGS)

    wait_until(hits_growing, 10, "cache hits growing after Redis came back")


def test_redis_blackholed_listing_answers_within_the_redis_timeout(stack: FaultStack) -> None:
    """A Redis that accepts and never answers costs a request at most one Redis socket timeout
    (0.5 s), then the cache steps aside for a second; no request fails."""
    warm(stack)
    with BackgroundLoad(stack.edge.base_url, LISTINGS, rate=20) as load:
        time.sleep(2)
        holed_at = time.monotonic()
        stack.redis_proxy.blackhole()
        time.sleep(5)
        stack.redis_proxy.pass_through()
        recovered_at = time.monotonic()
        time.sleep(2)
        load.stop()
    assert load.errors() == [], load.errors()[:3]
    normal = max(a.seconds for a in load.between(0, holed_at))
    during = load.between(holed_at, recovered_at)
    assert len(during) >= 20  # about 100 on a quiet box
    slow = [a for a in during if a.seconds > normal + 1.0]
    assert slow == [], f"{len(slow)} listings took over {normal + 1.0:.2f} s with Redis blackholed"
    after = load.between(recovered_at + 1.5, float("inf"))
    assert after and max(a.seconds for a in after) < normal + 0.3
