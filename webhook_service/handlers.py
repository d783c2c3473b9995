"""Applies supplier events to the catalog through its internal gRPC API.

Bad data is a PermanentFailure (the event is dead at once, its last_error says why): what this
module must put into the request's types (strings, int32) is checked here; the product rules
themselves are the catalog's (catalog_service/product_input.py), and its refusals are permanent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from farmlokal.catalog.v1 import catalog_internal_pb2 as cpb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as cpb_grpc
from google.protobuf.message import Message

from farmlokal_common.json_body import JsonBodyError, load_json_object

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# The catalog's answers that no retry can change: the event itself is wrong (or names a product
# that does not exist). Anything else (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ...) is retried.
PERMANENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)


class PermanentFailure(Exception):
    """The event can never be applied as it is (bad data): no retry helps."""


class Ignored(Exception):
    """An event type the catalog does not understand: stored and marked processed as ignored."""


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise PermanentFailure(f"data.{field} is missing or not a scalar")
    return _unicode(str(value), field)


def _optional_text(data: dict[str, Any], field: str) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise PermanentFailure(f"data.{field} must be a string")
    return _unicode(value, field)


def _unicode(value: str, field: str) -> str:
    """JSON may escape a lone surrogate (\\ud800), which no protobuf string may hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PermanentFailure(f"data.{field} is not valid Unicode text") from None
    return value


def _int32(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentFailure(f"data.{field} must be an integer")
    if not INT32_MIN <= value <= INT32_MAX:
        raise PermanentFailure(f"data.{field} must be between {INT32_MIN} and {INT32_MAX}")
    return value


def _upsert_request(data: dict[str, Any]) -> cpb.UpsertProductsRequest:
    product = cpb.ProductInput(
        external_id=_text(data, "external_id"),
        name=_text(data, "name"),
        description=_optional_text(data, "description"),
        category=_text(data, "category"),
        price=_text(data, "price"),
        stock=_int32(data, "stock"),
    )
    return cpb.UpsertProductsRequest(products=[product])


def _price_request(data: dict[str, Any]) -> cpb.UpdateProductRequest:
    return cpb.UpdateProductRequest(external_id=_text(data, "external_id"), price=_text(data, "price"))


def _stock_request(data: dict[str, Any]) -> cpb.UpdateProductRequest:
    return cpb.UpdateProductRequest(external_id=_text(data, "external_id"), stock=_int32(data, "stock"))


class CatalogEventHandler:
    def __init__(self, channel: grpc.Channel, timeout_seconds: float = 10.0) -> None:
        catalog = cpb_grpc.ProductWriteServiceStub(channel)
        self._timeout = timeout_seconds
        # event type -> (the catalog RPC, how its request is built from the event's data)
        self._routes: dict[str, tuple[Callable[..., Any], Callable[[dict[str, Any]], Message]]] = {
            "product.upserted": (catalog.UpsertProducts, _upsert_request),
            "product.price_changed": (catalog.UpdateProduct, _price_request),
            "product.stock_changed": (catalog.UpdateProduct, _stock_request),
        }

    def apply(self, event_type: str, payload: bytes) -> None:
        route = self._routes.get(event_type)
        if route is None:
            raise Ignored(f"ignored: unknown event type {event_type!r}")
        rpc, build = route
        try:
            document = load_json_object(payload)
        except JsonBodyError as error:
            raise PermanentFailure(f"the event body is unusable: {error}") from None
        data = document.get("data")
        if not isinstance(data, dict):
            raise PermanentFailure("data must be an object")
        try:
            request = build(data)
        except (TypeError, ValueError) as error:
            # A value the checks above missed and protobuf refuses: still bad data, never transient.
            raise PermanentFailure(f"the event's data cannot be sent to the catalog: {error}") from None
        try:
            rpc(request, timeout=self._timeout)
        except grpc.RpcError as error:
            if error.code() in PERMANENT_CODES:
                raise PermanentFailure(
                    f"catalog refused the event ({error.code().name}): {error.details()}"
                ) from None
            raise
