"""The seeder reports every phase while it runs, up to the last statement: a large seed never sits
silent at 100% while the database still builds indexes and search tables."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from catalog_service.seed.loader import PRODUCT_INDEXES, loader_engine, seed
from catalog_service.seed.progress import Phase
from tests.integration.listing.conftest import create_schema

PRODUCTS = 3000


@dataclass
class RecordedPhase:
    name: str
    total: int | None
    opened: float
    advanced: int = 0
    closed: float | None = None


@dataclass
class RecordingProgress:
    phases: list[RecordedPhase] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def phase(self, name: str, total: int | None = None, unit: str = "rows") -> Phase:
        return self._open(name, total)

    def step(self, name: str) -> Phase:
        return self._open(name, None)

    def _open(self, name: str, total: int | None) -> Phase:
        recorded = RecordedPhase(name, total, time.monotonic())
        with self.lock:
            self.phases.append(recorded)
        progress = self

        class _Handle:
            def advance(self, n: int) -> None:
                with progress.lock:
                    recorded.advanced += n

            def done(self) -> None:
                recorded.closed = time.monotonic()

        return _Handle()


def test_every_phase_is_shown_from_its_start_to_its_end(mariadb) -> None:
    engine = loader_engine(create_schema(mariadb.root_url, "listing_seed_progress"))
    progress = RecordingProgress()
    try:
        started = time.monotonic()
        seed(engine, PRODUCTS, seed_number=3, reset=True, workers=2, progress=progress)
        finished = time.monotonic()
    finally:
        engine.dispose()
    by_name = {p.name: p for p in progress.phases}
    assert set(by_name) == {
        "sampling word frequencies",
        "emptying the tables, dropping the products indexes",
        "generating",
        "loading products",
        "loading product_search",
        "loading search_postings",
        "loading search_words, category_counts",
        f"building the {len(PRODUCT_INDEXES)} products indexes",
        "building the search bitmaps",
        "building the search sort buckets",
        "analyzing the tables",
    }
    assert all(p.closed is not None for p in progress.phases), [
        p.name for p in progress.phases if not p.closed
    ]
    for name in ("generating", "loading products", "loading product_search"):
        assert by_name[name].advanced == by_name[name].total == PRODUCTS
    assert by_name["loading search_postings"].advanced > 0
    # Some phase is open at every moment of the seed: the display never goes quiet.
    covered = sorted((p.opened, p.closed or finished) for p in progress.phases)
    reach = started
    for opened, closed in covered:
        assert opened - reach < 0.5, f"nothing shown for {opened - reach:.2f} s"
        reach = max(reach, closed)
    assert finished - reach < 0.5
