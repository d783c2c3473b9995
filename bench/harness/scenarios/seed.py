"""B5 (seed time, measured by the stack) and B6/B7, whose scenarios wait for their services' issues."""

from __future__ import annotations

from bench.harness.catalog_probe import CatalogProbe, empty_request, rpc_presence
from bench.harness.figures import FAIL, NOT_APPLICABLE, NOT_IMPLEMENTED, SKIPPED, Row, verdict
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


def b6_b7_rows(target: Target) -> list[Row]:
    checks = [
        (
            "B6",
            "inbound webhooks, distinct / duplicates",
            ">= 500 accepted/s; >= 1,000 duplicates/s",
            target.webhook_grpc,
            "/farmlokal.webhook.v1.WebhookService/ReceiveWebhook",
            "farmlokal.webhook.v1.ReceiveWebhookRequest",
        ),
        (
            "B7",
            "GetAccessToken cache hit / cold start",
            "p99 <= 5 ms; 1 provider call",
            target.auth_grpc,
            "/farmlokal.auth.v1.TokenBrokerService/GetAccessToken",
            "farmlokal.auth.v1.GetAccessTokenRequest",
        ),
    ]
    rows = []
    for row_id, scenario, bar, address, method, request_type in checks:
        presence = rpc_presence(address, method, empty_request(request_type))
        if presence == "unimplemented":
            state, note = NOT_IMPLEMENTED, f"{method} answers UNIMPLEMENTED"
        elif presence == "unreachable":
            state, note = "unreachable", f"service not reachable at {address or '(not given)'}"
        else:
            state, note = "pending", f"{method} {presence}; the load scenario is not in the harness yet"
        rows.append(Row(id=row_id, scenario=scenario, bar=bar, verdict=state, note=note))
    return rows
