"""The catalog's read use cases: listing through the response cache, products, categories."""

from __future__ import annotations

from typing import Protocol

from catalog_service.domain import CategoryCount, ProductRecord
from catalog_service.listing.query import ListQuery
from catalog_service.listing.reader import Page, ProductReader
from catalog_service.response_cache import ResponseCache
from farmlokal_common.admission import Admission
from farmlokal_common.errors import NotFound


class CachedResponses(Protocol):
    """How a cached answer is written (the transport's presenters): the cache keeps what goes out."""

    def page(self, query: ListQuery, page: Page) -> bytes: ...

    def page_json(self, query: ListQuery, page: Page) -> bytes: ...

    def categories(self, counts: list[CategoryCount]) -> bytes: ...

    def categories_json(self, counts: list[CategoryCount]) -> bytes: ...


class Catalog:
    def __init__(self, reader: ProductReader, cache: ResponseCache, responses: CachedResponses) -> None:
        self._reader = reader
        self._cache = cache
        self._responses = responses

    def list_products(
        self, query: ListQuery, admission: Admission | None = None, rest_json: bool = False
    ) -> bytes:
        """A serialized ListProductsResponse (rest_json: its REST JSON in an HttpBody, cached beside
        it), from the cache when warm; on a miss one caller per query computes it (single-flight), at
        the generation's replication floor. The call's admission (rate limit) is answered in the
        cache's own round trip."""
        render = self._responses.page_json if rest_json else self._responses.page
        return self._cache.get_or_compute_at(
            ("list.json:" if rest_json else "list:") + query.cache_key(),
            lambda floor: render(query, self._reader.list_page(query, floor)),
            admission,
        )

    def get_product(self, product_id: int, admission: Admission | None = None) -> ProductRecord:
        """Not cached, but read at the generation's floor all the same: never older than a write
        that returned. The call's admission is answered in the floor's Redis round trip."""
        record = self._reader.get(product_id, self._cache.read_floor(admission))
        if record is None:
            raise NotFound(f"product {product_id} does not exist")
        return record

    def list_categories(self, admission: Admission | None = None, rest_json: bool = False) -> bytes:
        """A serialized ListCategoriesResponse (rest_json: its REST JSON in an HttpBody), from the
        cache when warm."""
        render = self._responses.categories_json if rest_json else self._responses.categories
        return self._cache.get_or_compute_at(
            "categories.json" if rest_json else "categories",
            lambda floor: render(self._reader.categories(floor)),
            admission,
        )
