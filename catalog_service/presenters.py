"""Turns domain records into the API's protobuf messages (money as 2-place strings, UTC timestamps)."""

from __future__ import annotations

from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.domain import CategoryCount, ProductRecord
from farmlokal_common.timestamps import timestamp


def product(record: ProductRecord) -> pb.Product:
    return pb.Product(
        id=record.id,
        name=record.name,
        description=record.description,
        category=record.category,
        price=f"{record.price:.2f}",
        stock=record.stock,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
    )


def categories(counts: list[CategoryCount]) -> pb.ListCategoriesResponse:
    return pb.ListCategoriesResponse(
        categories=[pb.Category(name=c.name, product_count=c.product_count) for c in counts]
    )
