"""The sandbox supplier API (API A): bearer-protected product pages, changes on demand, injected faults.

- `GET /supplier/v1/products?page=&page_size=&updated_since=`: products updated at or after
  updated_since (RFC 3339, inclusive), ordered by (updated_at, external_id), pages from 1.
  `{"products": [...], "page", "page_size", "total", "has_more"}`. 401 with
  `WWW-Authenticate: Bearer error="invalid_token"` for a missing, expired or foreign token.
- `POST /_sandbox/supplier/mutate?count=N`: changes N products (price, stock, updated_at).
- `POST /_sandbox/supplier/faults` `{"kind", "count", ...}` queues a fault for the next `count`
  requests (see supplier_faults); `GET` lists them, `DELETE` clears them. A request may carry its
  own fault in the `x-sandbox-fault` header (`kind=rate_limit;retry_after=2`).
- `GET /_sandbox/supplier/stats`: hits of the products route, total and by outcome, with times;
  `POST /_sandbox/supplier/reset` clears hits and faults and restores the data set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.settings import SandboxSettings
from sandbox.supplier_auth import TokenRejected, TokenVerifier
from sandbox.supplier_data import SupplierCatalog
from sandbox.supplier_faults import ConnectionReset, Fault, FaultBoard, HitCounter

FAULT_HEADER = "x-sandbox-fault"


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": message}, status_code=400)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _since(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("updated_since must be an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise ValueError("updated_since must carry a time zone (Z or an offset)")
    return value


class SupplierApi:
    def __init__(self, settings: SandboxSettings, verifier: TokenVerifier | None = None) -> None:
        self.catalog = SupplierCatalog(settings.supplier_product_count, settings.supplier_seed)
        self.faults = FaultBoard()
        self.hits = HitCounter()
        self.verifier = verifier or TokenVerifier.from_settings(settings)
        self._max_page_size = settings.supplier_max_page_size

    async def products(self, request: Request) -> Response:
        try:
            fault = (
                Fault.from_header(request.headers[FAULT_HEADER]) if FAULT_HEADER in request.headers else None
            )
        except ValueError as error:
            return _bad_request(str(error))
        fault = fault or self.faults.next()
        if fault is not None:
            self.hits.record(fault.outcome)  # on arrival, so a client that gave up is counted too
            if fault.kind != "latency":
                return await self._fail(request, fault)
            await asyncio.sleep(fault.latency_ms / 1000)
        try:
            await self.verifier.verify(request.headers.get("authorization"))
        except TokenRejected as rejected:
            if fault is None:
                self.hits.record("unauthorized" if rejected.status == 401 else "forbidden")
            return _rejected(rejected)
        try:
            page = _int(request, "page", 1, 1, 1_000_000)
            page_size = _int(request, "page_size", 100, 1, self._max_page_size)
            since = _since(request.query_params.get("updated_since"))
        except ValueError as error:
            if fault is None:
                self.hits.record("bad_request")
            return _bad_request(str(error))
        products, total = self.catalog.page(page, page_size, since)
        if fault is None:
            self.hits.record("ok")
        return JSONResponse(
            {
                "products": [p.to_json() for p in products],
                "page": page,
                "page_size": page_size,
                "total": total,
                "has_more": page * page_size < total,
            }
        )

    async def _fail(self, request: Request, fault: Fault) -> Response:
        if fault.kind == "error":
            return JSONResponse({"error": "server_error"}, status_code=fault.status)
        if fault.kind == "rate_limit":
            return JSONResponse(
                {"error": "rate_limited"}, status_code=429, headers={"retry-after": str(fault.retry_after)}
            )
        if fault.kind == "unauthorized":
            return _rejected(TokenRejected("invalid_token", "the token was revoked"))
        if fault.kind == "hang":
            await _hang(request, fault.hang_seconds)
            return JSONResponse({"error": "too late"}, status_code=504)
        return ConnectionReset()

    async def mutate(self, request: Request) -> Response:
        try:
            count = _int(request, "count", 10, 1, 100_000)
        except ValueError as error:
            return _bad_request(str(error))
        return JSONResponse({"changed": self.catalog.mutate(count)})

    async def add_fault(self, request: Request) -> Response:
        try:
            body: dict[str, Any] = await request.json()
            fault, count = Fault.parse(body), int(body.get("count", 1))
        except (ValueError, TypeError, AttributeError) as error:
            return _bad_request(str(error))
        self.faults.add(fault, count)
        return JSONResponse({"queued": self.faults.pending()}, status_code=201)

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse({"queued": self.faults.pending()})

    async def clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(status_code=204)

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.hits.snapshot())

    async def reset(self, request: Request) -> Response:
        self.hits.reset()
        self.faults.clear()
        self.catalog.reset()
        return Response(status_code=204)


def _rejected(rejected: TokenRejected) -> JSONResponse:
    return JSONResponse(
        {"error": rejected.error, "error_description": rejected.description},
        status_code=rejected.status,
        headers={"www-authenticate": rejected.challenge()},
    )


async def _hang(request: Request, seconds: float) -> None:
    """Answers nothing for `seconds`, but stops early once the client has gone."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        try:
            message = await asyncio.wait_for(
                request.receive(), timeout=min(0.2, max(0.0, until - loop.time()))
            )
        except TimeoutError:
            continue
        if message["type"] == "http.disconnect":
            return


def routes(settings: SandboxSettings, verifier: TokenVerifier | None = None) -> list[BaseRoute]:
    api = SupplierApi(settings, verifier)
    return [
        Route("/supplier/v1/products", api.products, methods=["GET"]),
        Route("/_sandbox/supplier/mutate", api.mutate, methods=["POST"]),
        Route("/_sandbox/supplier/faults", api.add_fault, methods=["POST"]),
        Route("/_sandbox/supplier/faults", api.list_faults, methods=["GET"]),
        Route("/_sandbox/supplier/faults", api.clear_faults, methods=["DELETE"]),
        Route("/_sandbox/supplier/stats", api.stats, methods=["GET"]),
        Route("/_sandbox/supplier/reset", api.reset, methods=["POST"]),
    ]
