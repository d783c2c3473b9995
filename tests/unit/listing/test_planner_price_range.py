"""The plan of a price range sorted by another column, from (estimated range rows, scope, fetch).

The figures are the seeded 1M catalog's (EXPLAIN estimates): a threshold that drifts fails here.
"""

from __future__ import annotations

import functools
import operator
import threading

import pytest

from catalog_service.listing.planner import (
    MIN_WINDOW,
    WINDOW_FACTOR,
    Choice,
    Window,
    choose_price_range,
)
from catalog_service.listing.statements import Plan
from catalog_service.listing.statistics import TtlCache

MILLION = 1_000_000
FETCH = 21  # limit 20


@pytest.mark.parametrize(
    ("range_rows", "scope", "fetch", "expected"),
    [
        # Narrow: read the range whole (1000-1001: 700 rows; 1000-1010: 2,824).
        (700, MILLION, FETCH, Choice(Plan.PRICE_RANGE)),
        (2_824, MILLION, FETCH, Choice(Plan.PRICE_RANGE)),
        (261, 130_157, FETCH, Choice(Plan.PRICE_RANGE)),  # a category and 1000-1010
        # Wide: a plain scan finds the page within a few hundred entries (100-300: 483k estimated).
        (483_248, MILLION, FETCH, Choice(Plan.SCAN)),
        (100_000, MILLION, FETCH, Choice(Plan.SCAN)),  # 10% of the scope: the bound itself
        (63_000, 130_157, FETCH, Choice(Plan.SCAN)),  # a category and 100-300
        # In between: a window of the sort index, then the range read whole if the window ran out.
        (3_000, MILLION, FETCH, Choice(Plan.SCAN, window=Window(28_000, Plan.PRICE_RANGE, True))),
        (10_000, MILLION, FETCH, Choice(Plan.SCAN, window=Window(8_400, Plan.PRICE_RANGE, True))),
        (2_000, 40_000, FETCH, Choice(Plan.PRICE_RANGE)),
        (3_500, 40_000, FETCH, Choice(Plan.SCAN, window=Window(MIN_WINDOW, Plan.PRICE_RANGE, True))),
        # Past that, reading the range costs more than the scan walks even when correlated
        # (price >= 5000: 18,830 estimated), so the scan runs unbounded.
        (10_001, MILLION, FETCH, Choice(Plan.SCAN)),
        (18_830, MILLION, FETCH, Choice(Plan.SCAN)),
        # A larger page gets a larger window.
        (5_000, MILLION, 101, Choice(Plan.SCAN, window=Window(80_800, Plan.PRICE_RANGE, True))),
        (483_248, MILLION, 101, Choice(Plan.SCAN)),
    ],
)
def test_price_range_plan(range_rows: int, scope: int, fetch: int, expected: Choice) -> None:
    assert choose_price_range(range_rows, scope, fetch) == expected


def test_window_grows_with_the_expected_walk() -> None:
    choice = choose_price_range(5_000, MILLION, FETCH)
    assert choice.window is not None
    assert choice.window.rows == WINDOW_FACTOR * FETCH * MILLION // 5_000


def test_an_estimate_above_the_scope_is_a_plain_scan() -> None:
    """EXPLAIN overestimates wide ranges (483k for 303k): a range "larger" than a small scope is
    still just the whole scope."""
    assert choose_price_range(50_000, 30_000, FETCH) == Choice(Plan.SCAN)


def test_ttl_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache: TtlCache[int] = TtlCache(ttl=60, max_entries=2, clock=lambda: now[0])
    loads: list[str] = []

    def load(key: str, value: int) -> int:
        def loader() -> int:
            loads.append(key)
            return value

        return cache.get(key, loader)

    assert load("a", 1) == 1 and load("a", 2) == 1  # cached
    now[0] = 61
    assert load("a", 3) == 3  # expired: loaded again
    load("b", 4)
    load("c", 5)  # full: the oldest ('a') goes
    assert load("a", 6) == 6
    assert loads == ["a", "a", "b", "c", "a"]


def test_ttl_cache_is_safe_under_threads() -> None:
    cache: TtlCache[int] = TtlCache(ttl=60, max_entries=16)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(2_000):
                key = (i + offset) % 40
                assert cache.get(key, functools.partial(operator.mul, key, 2)) == key * 2
        except BaseException as e:  # reported below: a thread's failure is not the test's
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache._entries) <= 16
