"""B5: the seed time measured by the own stack, and whether the seeded catalog answers."""

from __future__ import annotations

from bench.harness.catalog_probe import CatalogProbe
from bench.harness.figures import FAIL, NOT_APPLICABLE, SKIPPED, Row, verdict
from bench.harness.stack import SeedResult
from bench.harness.target import Target

SEED_BAR_S = 120.0
BAR_PRODUCTS = 1_000_000


def b5_row(seed: SeedResult | None, target: Target) -> Row:
    bar = f"<= {SEED_BAR_S:g} s for {BAR_PRODUCTS:,}"
    if seed is None:
        return Row(
            id="B5",
            scenario="seed into an empty schema",
            bar=bar,
            verdict=SKIPPED,
            note="existing deployment: time `make seed` there",
        )
    row = Row(
        id="B5",
        scenario=f"seed {seed.products:,} products, indexes built",
        bar=bar,
        verdict=verdict(seed.seconds <= SEED_BAR_S) if seed.products == BAR_PRODUCTS else NOT_APPLICABLE,
        extra={
            "tool": "catalog_service.seed (timed)",
            "load": f"{seed.products:,} rows in {seed.seconds:.1f} s",
            "seconds": round(seed.seconds, 2),
            "command": seed.command,
            "seed_output": seed.output_tail,
        },
        note=f"{seed.seconds:.1f} s wall clock; {seed.output_tail.splitlines()[-1] if seed.output_tail else ''}",
    )
    with CatalogProbe(target.catalog_grpc) as probe:
        page = probe.list({"limit": "20", "sort": "price", "order": "asc"})
    if len(page.products) == 0:
        row.verdict = FAIL
        row.note += "; not queryable: the first page is empty"
    if seed.products != BAR_PRODUCTS:
        row.note += f"; bar applies to {BAR_PRODUCTS:,} products"
    return row
