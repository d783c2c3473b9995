"""The catalog write path: one transaction per write, outbox rows for subscribers, cache generation bump
with the write's replication position (so reads on a lagging replica can wait for it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from catalog_service import outbox_store, product_store
from catalog_service.domain import ProductRecord
from catalog_service.product_input import MAX_STOCK, ProductFields
from catalog_service.response_cache import ResponseCache
from farmlokal_common import gtid
from farmlokal_common.db import RETRYABLE_ERRORS, error_code, retry_transaction
from farmlokal_common.errors import Aborted, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from farmlokal_common.timestamps import utcnow

MAX_BATCH = 1000
DUPLICATE_KEY = 1062


@dataclass(frozen=True)
class Selector:
    id: int | None = None
    external_id: str | None = None


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ids: list[int] = field(default_factory=list)


# Hooks run inside the write transaction (e.g. to maintain search structures): (conn, changed, deleted).
ChangeHook = Callable[[Connection, Sequence[int], Sequence[int]], None]


def _payload(record: ProductRecord) -> str:
    return json.dumps(
        {
            "id": str(record.id),
            "external_id": record.external_id,
            "name": record.name,
            "description": record.description,
            "category": record.category,
            "price": f"{record.price:.2f}",
            "stock": record.stock,
            "created_at": record.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": record.updated_at.isoformat().replace("+00:00", "Z"),
        }
    )


class ProductWriter:
    def __init__(self, engine: Engine, cache: ResponseCache, hooks: Sequence[ChangeHook] = ()) -> None:
        self._engine = engine
        self._cache = cache
        self._hooks = list(hooks)

    def upsert(self, products: Sequence[ProductFields]) -> UpsertResult:
        if not products:
            return UpsertResult()
        if len(products) > MAX_BATCH:
            raise InvalidArgument(FieldViolation("products", f"at most {MAX_BATCH} products per batch"))
        by_external = {p.external_id: p for p in products}  # the last one wins within a batch
        if len(by_external) != len(products):
            raise InvalidArgument(FieldViolation("products", "external_id must be unique within a batch"))
        return self._in_transaction(lambda conn: self._upsert(conn, by_external))

    def update(self, selector: Selector, changes: dict[str, Any]) -> ProductRecord:
        def work(conn: Connection) -> ProductRecord:
            before = self._lock_one(conn, selector)
            values = {k: v for k, v in changes.items() if v is not None}
            if not values:
                return before
            product_store.change(conn, before.id, values, utcnow())
            return self._after_change(conn, before.id, "product.updated")

        return self._in_transaction(work)

    def adjust_stock(self, selector: Selector, delta: int) -> ProductRecord:
        def work(conn: Connection) -> ProductRecord:
            before = self._lock_one(conn, selector)
            if before.stock + delta < 0:
                raise FailedPrecondition(
                    f"stock of product {before.id} is {before.stock}; cannot remove {-delta}"
                )
            if before.stock + delta > MAX_STOCK:
                raise InvalidArgument(FieldViolation("delta", f"stock must stay at most {MAX_STOCK}"))
            product_store.add_stock(conn, before.id, delta, utcnow())
            return self._after_change(conn, before.id, "product.updated")

        return self._in_transaction(work)

    def delete(self, selector: Selector) -> bool:
        def work(conn: Connection) -> bool:
            try:
                before = self._lock_one(conn, selector)
            except NotFound:
                return False
            for hook in self._hooks:
                hook(conn, [], [before.id])
            product_store.delete(conn, before.id)
            self._append_outbox(conn, "product.deleted", before)
            return True

        return self._in_transaction(work)

    # -- internals -------------------------------------------------------------------------------

    def _in_transaction(self, work: Callable[[Connection], Any]) -> Any:
        """One transaction, run again on deadlocks, and on a duplicate external_id (two writers
        inserting the same new product at once: the retry finds it and updates it)."""

        def attempt() -> tuple[Any, str | None]:
            with self._engine.connect() as conn:
                with conn.begin():
                    result = work(conn)
                # In the committing session, right after the commit: this write's own position.
                # Committed, so never run again for a failure here (a stock delta would apply twice).
                try:
                    return result, gtid.last_write(conn)
                except DBAPIError:
                    return result, None

        try:
            result, position = retry_transaction(attempt, also=(DUPLICATE_KEY,))
        except DBAPIError as error:
            if error_code(error) in (*RETRYABLE_ERRORS, DUPLICATE_KEY):
                raise Aborted("the write kept conflicting with concurrent writes; retry it") from None
            raise
        self._cache.bump_generation(self._primary_position() if position is None else position)
        return result

    def _primary_position(self) -> str:
        """Everything the primary committed so far (covers this write): when its own position was lost."""
        try:
            return gtid.primary_position(self._engine)
        except DBAPIError:
            return ""

    def _upsert(self, conn: Connection, by_external: dict[str, ProductFields]) -> UpsertResult:
        existing = {
            r.external_id: r for r in product_store.by_external_ids(conn, list(by_external), lock=True)
        }
        result, now = UpsertResult(), utcnow()
        new = [p for ext, p in by_external.items() if ext not in existing]
        changed = [p for ext, p in by_external.items() if ext in existing and self._differs(existing[ext], p)]
        result.unchanged = len(by_external) - len(new) - len(changed)
        if new:
            product_store.insert(conn, new, now)
        for p in changed:
            product_store.replace(conn, p, now)
        touched = [p.external_id for p in (*new, *changed)]
        if touched:
            records = product_store.by_external_ids(conn, touched)
            for hook in self._hooks:
                hook(conn, [r.id for r in records], [])
            for product in records:
                created = product.external_id not in existing
                self._append_outbox(conn, "product.created" if created else "product.updated", product)
            result.changed_ids = [r.id for r in records]
        result.created, result.updated = len(new), len(changed)
        return result

    @staticmethod
    def _differs(record: ProductRecord, p: ProductFields) -> bool:
        return (record.name, record.description, record.category, record.price, record.stock) != (
            p.name,
            p.description,
            p.category,
            p.price,
            p.stock,
        )

    def _lock_one(self, conn: Connection, selector: Selector) -> ProductRecord:
        if selector.id is not None:
            found, label = product_store.lock(conn, "id", selector.id), f"product {selector.id}"
        elif selector.external_id:
            found = product_store.lock(conn, "external_id", selector.external_id)
            label = f"product {selector.external_id!r}"
        else:
            raise InvalidArgument(FieldViolation("selector", "give id or external_id"))
        if found is None:
            raise NotFound(f"{label} does not exist")
        return found

    def _after_change(self, conn: Connection, product_id: int, event_type: str) -> ProductRecord:
        for hook in self._hooks:
            hook(conn, [product_id], [])
        after = product_store.read(conn, product_id)
        self._append_outbox(conn, event_type, after)
        return after

    @staticmethod
    def _append_outbox(conn: Connection, event_type: str, record: ProductRecord) -> None:
        outbox_store.append(conn, event_type, record.id, _payload(record), utcnow())
