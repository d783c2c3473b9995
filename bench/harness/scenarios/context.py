"""What every scenario gets: the target, the tools, where to write, how long to run, the query shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness.target import Target
from bench.harness.terms import SearchTerm
from bench.harness.tools import Toolbox

if TYPE_CHECKING:
    from bench.harness.stack import OwnStack

SORTS = ("created_at", "price", "name")
ORDERS = ("asc", "desc")
PAGE_SIZE = "20"


@dataclass(frozen=True)
class Durations:
    """Seconds per load run; `quick` runs are for smoke tests, their figures are only indicative."""

    fixed_rate: float
    saturation: float
    search: float
    deep: float
    b2_walk_depth: int
    b4_walk_depth: int
    drain: float = 120  # B6: at most this long for the webhook worker to process what was accepted
    idle: float = 10  # B9: seconds without traffic for the idle CPU of each process
    walk_budget: float = 60  # B3's worst classes: at most this long walking one class to its deep page

    @classmethod
    def full(cls) -> Durations:
        return cls(
            fixed_rate=20, saturation=15, search=15, deep=10, b2_walk_depth=50, b4_walk_depth=1000, drain=300
        )

    @classmethod
    def quick(cls) -> Durations:
        return cls(
            fixed_rate=5,
            saturation=5,
            search=5,
            deep=4,
            b2_walk_depth=10,
            b4_walk_depth=100,
            drain=90,
            idle=5,
            walk_budget=20,
        )


@dataclass
class Context:
    target: Target
    tools: Toolbox
    workdir: Path
    durations: Durations
    products: int | None
    price_range: tuple[str, str]
    search_terms: list[SearchTerm] = field(default_factory=list)
    say: Callable[[str], None] = print
    stack: OwnStack | None = None  # the harness's own stack (databases readable, processes startable)
    cpu_records: list[Any] = field(default_factory=list)  # accounting.CpuRecord of every accounted run

    @property
    def connections(self) -> int:
        """ghz connections: SO_REUSEPORT hashes connections, not requests, onto the workers; with 2 per
        worker one run of 2026-12-02 put 1,040 and 2,959 calls on two workers. 8 per worker keeps a
        worker's share near even (binomial: one standard deviation is 12.5% at 16 over 2)."""
        return max(8, self.target.catalog_workers * 8)

    def filters(self, category: str) -> list[tuple[str, dict[str, str]]]:
        low, high = self.price_range
        return [
            ("none", {}),
            (f"category={category}", {"category": category}),
            (f"price {low}-{high}", {"min_price": low, "max_price": high}),
        ]


def list_request(filters: dict[str, str], sort: str, order: str, **more: str) -> dict[str, str]:
    return {"limit": PAGE_SIZE, **filters, **more, "sort": sort, "order": order}


def describe_request(request: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in request.items() if k not in ("limit", "cursor"))
