"""The API reference in a real browser: /docs renders in headless Chromium, and "Try it out" on
GET /v1/products with limit=3 shows the live answer of the same edge. Nothing is loaded from elsewhere."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.observability.conftest import CHROMIUM, ObservedStack


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-screenshots")


def test_try_it_out_lists_three_products(
    observed_stack: ObservedStack, browser_runner: Path, screenshots: Path
) -> None:
    started = time.monotonic()
    run = subprocess.run(
        ["node", "try_list_products.mjs", observed_stack.base_url, str(screenshots), str(CHROMIUM)],
        cwd=browser_runner,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - started
    assert run.returncode == 0, f"browser script failed:\n{run.stdout}\n{run.stderr}"
    page = json.loads(run.stdout.strip().splitlines()[-1])
    print(
        f"\nscreenshots ({seconds:.1f} s in Chromium): {screenshots}/docs-page.png, try-it-out-list-products.png"
    )

    assert page["title"] == "FarmLokal API reference"
    assert page["operations"] >= 10, page
    assert page["request_url"] == f"{observed_stack.base_url}/v1/products?limit=3"
    assert page["status"] == "200"
    assert len(page["products"]) == 3
    with httpx.Client(base_url=observed_stack.base_url, trust_env=False, timeout=10) as http:
        direct = http.get("/v1/products", params={"limit": "3"}).json()
    assert page["products"] == [product["id"] for product in direct["products"]]
    assert page["elsewhere"] == [], "the reference fetched from other origins"
    assert page["console_errors"] == []
    for name in ("docs-page.png", "try-it-out-list-products.png"):
        assert (screenshots / name).stat().st_size > 10_000
