"""Class: bad product data on a write path (here: signed supplier webhooks, applied by the event
worker through the catalog's internal write RPCs).

Before: `stock: 2**70` was retried as if transient (building the request raised ValueError), a
price change for a product that does not exist went through the whole retry ladder, and
`"category": "fru\\u0000its"` created a category with a NUL byte. Expected: bad data is `dead` after
its first attempt with a last_error that names the problem, and nothing with a control character
reaches the catalog. The rules are one validation (catalog_service/product_input.py) shared with the
internal RPCs and the supplier sync (unit-tested in tests/unit/catalog/test_product_input.py).
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.auth_sandbox import SandboxProcess
from tests.hostile.signed_webhooks import final_status, post_signed


def _upserted(**changes: Any) -> dict[str, Any]:
    data = {
        "external_id": f"hostile-{uuid.uuid4().hex[:10]}",
        "name": "Hostile Mango",
        "description": "picked\nat dawn",
        "category": "Fruits",
        "price": "42.50",
        "stock": 7,
    }
    return {"type": "product.upserted", "data": {**data, **changes}}


BAD_EVENTS = {
    "stock 2**70": (_upserted(stock=2**70), "stock"),
    "stock negative": (_upserted(stock=-1), "stock"),
    "stock above the catalog's bound": (_upserted(stock=2**31 - 1), "stock"),
    "stock a string": (_upserted(stock="5"), "stock"),
    "stock a boolean": (_upserted(stock=True), "stock"),
    "category with NUL": (_upserted(category="fru\u0000its"), "category"),
    "category with a line break": (_upserted(category="Fru\nits"), "category"),
    "name with BEL": (_upserted(name="Mango\u0007"), "name"),
    "description with ESC": (_upserted(description="\u001b[31mred"), "description"),
    "description an object": (_upserted(description={"text": "x"}), "description"),
    "name a lone surrogate": (_upserted(name="Mango \ud800"), "name"),
    "external_id with a newline": (_upserted(external_id="abc\n"), "external_id"),
    "price not finite": (_upserted(price="NaN"), "price"),
    "price with 3 decimals": (_upserted(price="1.005"), "price"),
    "price of a product that does not exist": (
        {"type": "product.price_changed", "data": {"external_id": "no-such-product", "price": "1.00"}},
        "does not exist",
    ),
    "stock change past int32": (
        {"type": "product.stock_changed", "data": {"external_id": "no-such-product", "stock": 2**31}},
        "stock",
    ),
}


@pytest.mark.parametrize(("event", "named"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_bad_product_data_is_dead_at_once_saying_why(
    client: httpx.Client, hostile_sandbox: SandboxProcess, event: dict[str, Any], named: str
) -> None:
    event_id, response = post_signed(client, event)
    assert response.status_code == 200, response.text
    status = final_status(client, hostile_sandbox, event_id)
    assert status["status"] == "dead", status
    assert status["attempts"] == 1, status  # no retry of data that cannot change
    assert named in status["last_error"], status


def test_good_data_with_line_breaks_in_the_description_is_applied(
    client: httpx.Client, hostile_sandbox: SandboxProcess
) -> None:
    event_id, _ = post_signed(client, _upserted(name="Hostile Papaya"))
    assert final_status(client, hostile_sandbox, event_id)["status"] == "processed"


def test_no_category_holds_a_control_character(client: httpx.Client, hostile_sandbox: SandboxProcess) -> None:
    event_id, _ = post_signed(client, _upserted(category="veg\u0000gies"))
    final_status(client, hostile_sandbox, event_id)
    names = [category["name"] for category in client.get("/v1/categories").json()["categories"]]
    assert names and not [n for n in names if any(unicodedata.category(c) == "Cc" for c in n)], names
