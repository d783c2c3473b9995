"""Small gRPC conversations the scenarios need before loading: categories, page walks, RPC presence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.catalog.v1 import catalog_pb2_grpc as pb_grpc
from google.protobuf import message as protobuf_message
from google.protobuf import symbol_database

CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Walk:
    """The cursor that fetches page `depth` of a query (page 1 has no cursor)."""

    request: dict[str, str]
    depth: int
    cursor: str
    complete: bool  # False when the query ran out of pages before the wanted depth

    def page_request(self) -> dict[str, str]:
        return {**self.request, "cursor": self.cursor} if self.cursor else dict(self.request)


class CatalogProbe:
    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.insecure_channel(address)
        self._stub = pb_grpc.CatalogServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CatalogProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def categories(self) -> list[tuple[str, int]]:
        """(name, product_count), largest first."""
        answer = self._stub.ListCategories(pb.ListCategoriesRequest(), timeout=CALL_TIMEOUT_S)
        return sorted(((c.name, c.product_count) for c in answer.categories), key=lambda c: -c[1])

    def list(self, request: Mapping[str, str]) -> pb.ListProductsResponse:
        return self._stub.ListProducts(pb.ListProductsRequest(**request), timeout=CALL_TIMEOUT_S)

    def walk(self, request: Mapping[str, str], depth: int) -> Walk:
        """Follows next_cursor from page 1 to page `depth` (or the last page)."""
        cursor = ""
        page = 1
        while page < depth:
            answer = self.list({**request, "cursor": cursor} if cursor else request)
            if not answer.has_more or not answer.next_cursor:
                return Walk(dict(request), page, cursor, complete=False)
            cursor = answer.next_cursor
            page += 1
        return Walk(dict(request), page, cursor, complete=True)

    def price_bounds(self) -> tuple[float, float]:
        """The cheapest and dearest prices (first product sorted by price each way)."""
        low = self.list({"limit": "1", "sort": "price", "order": "asc"}).products
        high = self.list({"limit": "1", "sort": "price", "order": "desc"}).products
        if not low or not high:
            raise LookupError("the catalog is empty")
        return float(low[0].price), float(high[0].price)


def rpc_presence(address: str | None, method: str, request: protobuf_message.Message) -> str:
    """'unimplemented', 'unreachable', or 'answers (<CODE>)' for one unary call with a dummy request."""
    if not address:
        return "unreachable"
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=3)
        except grpc.FutureTimeoutError:
            return "unreachable"
        call = channel.unary_unary(
            method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        try:
            call(request, timeout=5)
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return "unimplemented"
            return f"answers ({code.name})"
    return "answers (OK)"


def empty_request(full_name: str) -> protobuf_message.Message:
    """An empty message of a type in the generated stubs (imported so the descriptor pool has it)."""
    from farmlokal.auth.v1 import auth_internal_pb2, auth_pb2  # noqa: F401
    from farmlokal.webhook.v1 import webhook_internal_pb2, webhook_pb2  # noqa: F401

    return symbol_database.Default().GetSymbol(full_name)()
