"""GET /v1/products over REST for B8: pages, cursor walks, and the check that the reference's pages
equal ours (same products, same fields, same has_more; cursors differ by design)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

TIMEOUT_S = 15.0
PRODUCT_FIELDS = ("id", "name", "description", "category", "price", "stock", "created_at", "updated_at")


def path(params: Mapping[str, str]) -> str:
    return "/v1/products?" + urlencode(dict(params))


def get_page(client: httpx.Client, base_url: str, params: Mapping[str, str]) -> dict[str, Any]:
    answer = client.get(base_url + path(params))
    answer.raise_for_status()
    page: dict[str, Any] = answer.json()
    return page


@dataclass(frozen=True)
class RestWalk:
    """The request of page `depth` of a query on one side (its own cursor), or where it ended."""

    params: dict[str, str]
    depth: int
    complete: bool

    def path(self) -> str:
        return path(self.params)


def walk(client: httpx.Client, base_url: str, params: Mapping[str, str], depth: int) -> RestWalk:
    """Follows next_cursor from page 1 to page `depth` (or the last page)."""
    current = dict(params)
    page = 1
    while page < depth:
        answer = get_page(client, base_url, current)
        if not answer.get("has_more") or not answer.get("next_cursor"):
            return RestWalk(current, page, complete=False)
        current = {**params, "cursor": answer["next_cursor"]}
        page += 1
    return RestWalk(current, page, complete=True)


def comparable(page: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], bool]:
    """The page's products as comparable values (ids as integers, prices as decimals) and has_more."""
    rows = []
    for product in page.get("products", []):
        values = []
        for name in PRODUCT_FIELDS:
            value = product.get(name)
            if name == "id":
                value = int(value) if value is not None else None
            elif name == "price":
                value = Decimal(str(value)) if value is not None else None
            values.append(value)
        rows.append(tuple(values))
    return rows, bool(page.get("has_more"))


def difference(ours: Mapping[str, Any], reference: Mapping[str, Any]) -> str | None:
    """None when the pages are equal; else what differs first."""
    our_rows, our_more = comparable(ours)
    ref_rows, ref_more = comparable(reference)
    if len(our_rows) != len(ref_rows):
        return f"{len(our_rows)} products against the reference's {len(ref_rows)}"
    for index, (mine, theirs) in enumerate(zip(our_rows, ref_rows, strict=True)):
        if mine != theirs:
            fields = [n for n, a, b in zip(PRODUCT_FIELDS, mine, theirs, strict=True) if a != b]
            return f"product {index + 1} differs in {', '.join(fields)} (ours id {mine[0]}, reference {theirs[0]})"
    if our_more != ref_more:
        return f"has_more {our_more} against the reference's {ref_more}"
    return None


@dataclass(frozen=True)
class PageCheck:
    name: str
    products: int
    problem: str | None


def check_pages(
    ours_url: str, reference_url: str, queries: Sequence[tuple[str, dict[str, str], int]]
) -> list[PageCheck]:
    """Each (name, params, page number): that page on both sides, each walking with its own cursors."""
    checks = []
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
        for name, params, depth in queries:
            try:
                ours_walk = walk(client, ours_url, params, depth)
                ref_walk = walk(client, reference_url, params, depth)
                if ours_walk.depth != ref_walk.depth:
                    checks.append(
                        PageCheck(name, 0, f"ours has {ours_walk.depth} pages, reference {ref_walk.depth}")
                    )
                    continue
                ours = get_page(client, ours_url, ours_walk.params)
                ref = get_page(client, reference_url, ref_walk.params)
                checks.append(PageCheck(name, len(ours.get("products", [])), difference(ours, ref)))
            except (httpx.HTTPError, ValueError) as error:
                checks.append(PageCheck(name, 0, f"request failed: {error}"))
    return checks


def walk_all(base_url: str, queries: Sequence[Mapping[str, str]], depth: int) -> list[RestWalk]:
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
        return [walk(client, base_url, params, depth) for params in queries]
