"""The catalog's read use cases: listing through the response cache, products, categories."""

from __future__ import annotations

from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service import presenters
from catalog_service.listing.query import ListQuery
from catalog_service.listing.repository import ProductReader
from farmlokal_common.errors import NotFound
from farmlokal_common.prebuilt import Prebuilt
from farmlokal_common.response_cache import ResponseCache


class Catalog:
    def __init__(self, reader: ProductReader, cache: ResponseCache) -> None:
        self._reader = reader
        self._cache = cache

    def list_products(self, query: ListQuery) -> Prebuilt:
        """A serialized ListProductsResponse, from the cache when warm; on a miss one caller per
        query computes it (single-flight), at the generation's replication floor."""
        return Prebuilt(
            self._cache.get_or_compute_at(
                "list:" + query.cache_key(), lambda floor: self._render_page(query, floor)
            )
        )

    def get_product(self, product_id: int) -> pb.Product:
        """Not cached, but read at the generation's floor all the same: never older than a write
        that returned."""
        record = self._reader.get(product_id, self._cache.read_floor())
        if record is None:
            raise NotFound(f"product {product_id} does not exist")
        return presenters.product(record)

    def list_categories(self) -> Prebuilt:
        """A serialized ListCategoriesResponse, from the cache when warm."""
        return Prebuilt(self._cache.get_or_compute_at("categories", self._render_categories))

    def _render_categories(self, floor: str | None) -> bytes:
        return bytes(presenters.categories(self._reader.categories(floor)).SerializeToString())

    def _render_page(self, query: ListQuery, floor: str | None) -> bytes:
        page = self._reader.list_page(query, floor)
        response = pb.ListProductsResponse(
            products=[presenters.product(record) for record in page.products],
            next_cursor=page.next_cursor,
            has_more=page.has_more,
        )
        return bytes(response.SerializeToString())
