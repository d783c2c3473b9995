"""100 ms added to every MySQL answer: uncached listing gets slower by about that per round trip, and
nothing times out."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.conftest import CatalogInstance, FaultStack

ADDED_S = 0.1
QUERIES = [
    {"limit": "20"},
    {"limit": "20", "sort": "price", "order": "asc"},
    {"limit": "20", "sort": "name", "order": "desc"},
    {"limit": "20", "category": "Fruits"},
    {"limit": "20", "category": "Vegetables", "sort": "price"},
    {"limit": "10", "min_price": "100", "max_price": "300", "sort": "price"},
    {"limit": "20", "q": "mango"},
]


@pytest.fixture(scope="module")
def uncached(fault_stack: FaultStack) -> Iterator[CatalogInstance]:
    instance = fault_stack.start_catalog("catalog-uncached", CATALOG_CACHE_ENABLED="false")
    yield instance
    instance.stop()


def floors(http: httpx.Client, queries: list[dict[str, str]], rounds: int = 3) -> list[float]:
    """The fastest of `rounds` answers to each query (other work on the box only ever adds time, so
    the floor is what the query costs); every answer must be a 200."""
    result = []
    for params in queries:
        seconds = []
        for _ in range(rounds):
            started = time.monotonic()
            response = http.get("/v1/products", params=params)
            seconds.append(time.monotonic() - started)
            assert response.status_code == 200, (params, response.status_code, response.text)
        result.append(min(seconds))
    return result


def test_added_mysql_latency_shows_in_uncached_listing_and_nothing_times_out(
    stack: FaultStack, uncached: CatalogInstance
) -> None:
    """Measured: a listing costs 2 MySQL round trips on the read engine (the query, and the rollback
    when the connection returns to the pool; the read engine has no pre-ping, and a price range's
    statistics are cached) and a search up to 6, so 100 ms adds 200 and 600 ms. The bounds below
    fail if a round trip is added; fewer would be welcome."""
    with uncached.client(timeout=20) as http:
        floors(http, QUERIES, 1)  # warm the pool and the planner's statistics
        baseline = floors(http, QUERIES)
        stack.mysql.add_latency(ADDED_S)
        slow = floors(http, QUERIES)
        stack.mysql.pass_through()
        recovered = floors(http, QUERIES, 1)

    growth = {
        tuple(q.items()): after - before for q, before, after in zip(QUERIES, baseline, slow, strict=True)
    }
    print("\n".join(f"{dict(q)}: +{g * 1000:.0f} ms" for q, g in growth.items()))
    for query, grown in growth.items():
        round_trips = round(grown / ADDED_S)
        # Measured 2 for a listing and 6 (now and then 7) for a search; more means a new round trip.
        most = 7 if dict(query).get("q") else 2
        assert 1 <= round_trips <= most, (dict(query), grown)
    assert max(recovered) < max(baseline) + 0.05
