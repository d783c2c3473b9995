"""Applies supplier events to the catalog through its internal gRPC API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from farmlokal.catalog.v1 import catalog_internal_pb2 as cpb
from farmlokal.catalog.v1 import catalog_internal_pb2_grpc as cpb_grpc


class PermanentFailure(Exception):
    """The event can never be applied as it is (bad data): no retry helps."""


class Ignored(Exception):
    """An event type the catalog does not understand: stored and marked processed as ignored."""


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise PermanentFailure(f"data.{field} is missing or not a scalar")
    return str(value)


def _int(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentFailure(f"data.{field} must be an integer")
    return value


class CatalogEventHandler:
    def __init__(self, channel: grpc.Channel, timeout_seconds: float = 10.0) -> None:
        self._catalog = cpb_grpc.ProductWriteServiceStub(channel)
        self._timeout = timeout_seconds
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "product.upserted": self._upserted,
            "product.price_changed": self._price_changed,
            "product.stock_changed": self._stock_changed,
        }

    def apply(self, event_type: str, payload: bytes) -> None:
        handler = self._handlers.get(event_type)
        if handler is None:
            raise Ignored(f"ignored: unknown event type {event_type!r}")
        document = json.loads(payload)
        data = document.get("data")
        if not isinstance(data, dict):
            raise PermanentFailure("data must be an object")
        try:
            handler(data)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise PermanentFailure(f"catalog refused the event: {error.details()}") from None
            raise

    def _upserted(self, data: dict[str, Any]) -> None:
        product = cpb.ProductInput(
            external_id=_text(data, "external_id"),
            name=_text(data, "name"),
            description=str(data.get("description", "")),
            category=_text(data, "category"),
            price=_text(data, "price"),
            stock=_int(data, "stock"),
        )
        self._catalog.UpsertProducts(cpb.UpsertProductsRequest(products=[product]), timeout=self._timeout)

    def _price_changed(self, data: dict[str, Any]) -> None:
        request = cpb.UpdateProductRequest(external_id=_text(data, "external_id"), price=_text(data, "price"))
        self._catalog.UpdateProduct(request, timeout=self._timeout)

    def _stock_changed(self, data: dict[str, Any]) -> None:
        request = cpb.UpdateProductRequest(external_id=_text(data, "external_id"), stock=_int(data, "stock"))
        self._catalog.UpdateProduct(request, timeout=self._timeout)
