"""One supplier synchronisation: page through the supplier's changes, upsert them through the catalog's write path.

Incremental by the supplier's `updated_since` (the watermark: the supplier's own updated_at of the
last product applied; a full walk when there is none). Pages are walked by that timestamp rather
than by page number: each request asks for `updated_since=<last updated_at seen>` (inclusive), so a
product the supplier changes during the walk moves behind the cursor and is fetched later in the
walk instead of shifting an unseen product onto a page already read. Only when a whole page shares
one timestamp does the walk step through that instant by page number. Products already applied
at the boundary instant are skipped.

Every page is one ProductWriter.upsert (one transaction, outbox rows, cache generation bump); the
watermark moves after each committed page. A product that fails validation counts as failed and
is skipped. A supplier or breaker failure ends the run with what was done so far and the reason;
an open breaker ends it at once, without a request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.exceptions import LockError, RedisError

from catalog_service.product_input import ProductFields, product_fields
from catalog_service.supplier.client import SupplierClient, SupplierItem, SupplierPage
from catalog_service.supplier.status import SyncRun, SyncStore, SyncSummary
from catalog_service.writes import ProductWriter, UpsertResult
from farmlokal_common.errors import Aborted, InvalidArgument, ServiceError
from farmlokal_common.retry import Deadline

log = logging.getLogger("farmlokal.catalog.supplier_sync")

LOCK_KEY = "catalog:supplier-sync:lock"


@dataclass(frozen=True)
class SyncSettings:
    page_size: int = 500  # also the upsert batch (ProductWriter takes at most 1000)
    run_deadline_seconds: float = 300.0
    lock_ttl_seconds: float = 60.0  # renewed after every page


class SyncBusy(Aborted):
    """Another replica (or request) is running a sync."""


class SupplierSync:
    def __init__(
        self,
        client: SupplierClient,
        writer: ProductWriter,
        store: SyncStore,
        redis_client: redis.Redis,
        settings: SyncSettings | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._client = client
        self._writer = writer
        self._store = store
        self._redis = redis_client
        self._settings = settings or SyncSettings()
        self._clock = clock

    def run(self, trigger: str = "manual", full: bool = False, require_lock: bool = False) -> SyncRun:
        """Runs one sync under the Redis lock (SyncBusy when another one holds it) and records it.

        Without Redis the lock cannot be taken: a manual run goes ahead (upserts are idempotent,
        the lock only saves work); with require_lock (the periodic runs) it does not.
        """
        lock = self._redis.lock(
            LOCK_KEY, timeout=self._settings.lock_ttl_seconds, blocking=False, thread_local=False
        )
        try:
            held = lock.acquire()
        except RedisError:
            if require_lock:
                raise SyncBusy("the sync lock is unavailable (Redis); skipping this periodic run") from None
            held = None
            log.warning("supplier sync lock unavailable; running without it")
        if held is False:
            raise SyncBusy("a supplier sync is already running; try again when it has finished")
        try:
            return self._run(trigger, full, lock if held else None)
        finally:
            if held:
                with contextlib.suppress(LockError, RedisError):
                    lock.release()

    def status(self) -> tuple[str, SyncRun | None]:
        """The breaker state every replica sees, and the last run (by any replica)."""
        return self._client.breaker_state, self._store.latest()

    def _run(self, trigger: str, full: bool, lock: redis.lock.Lock | None) -> SyncRun:
        started, clock_started = self._clock(), time.perf_counter()
        summary, error = SyncSummary(), ""
        since = None if full else self._store.watermark()
        mode = "incremental" if since is not None else "full"
        try:
            self._walk(since, summary, lock)
        except ServiceError as failure:
            error = failure.message
        except Exception as failure:  # recorded and reported; the service keeps serving
            log.exception("supplier sync failed")
            error = f"internal error during the sync ({type(failure).__name__})"
        summary.duration_ms = int((time.perf_counter() - clock_started) * 1000)
        summary.breaker_state = self._client.breaker_state
        run = SyncRun(summary, started, self._clock(), error, trigger, mode)
        self._store.record(run)
        log.info(
            "supplier sync finished",
            extra={"trigger": trigger, "mode": mode, "summary": summary.__dict__, "error": error},
        )
        return run

    def _walk(self, since: dt.datetime | None, summary: SyncSummary, lock: redis.lock.Lock | None) -> None:
        deadline = Deadline.after(self._settings.run_deadline_seconds)
        page, applied_at_since = 1, set[str]()
        while True:
            if deadline.remaining() <= 0:
                raise Aborted("the sync ran out of time; the next run continues from the watermark")
            result = self._client.fetch_page(page, self._settings.page_size, since, deadline)
            fresh = [
                i for i in result.items if not (i.updated_at == since and i.external_id in applied_at_since)
            ]
            self._apply(fresh, result, summary)
            if not result.items or not result.has_more:
                return
            last = result.items[-1].updated_at
            if last == since:
                page += 1  # a whole page at one instant: step through that instant by page number
            else:
                since, page, applied_at_since = last, 1, set()
            applied_at_since.update(i.external_id for i in result.items if i.updated_at == since)
            if lock is not None:
                with contextlib.suppress(LockError, RedisError):
                    lock.extend(self._settings.lock_ttl_seconds, replace_ttl=True)

    def _apply(self, items: list[SupplierItem], page: SupplierPage, summary: SyncSummary) -> None:
        summary.fetched += len(items) + len(page.rejected)
        summary.failed += len(page.rejected)
        valid: dict[str, ProductFields] = {}
        for item in items:
            try:
                valid[item.external_id] = product_fields(
                    item.external_id, item.name, item.description, item.category, item.price, item.stock
                )
            except InvalidArgument as invalid:
                summary.failed += 1
                log.warning(
                    "supplier product rejected",
                    extra={"external_id": item.external_id[:64], "why": invalid.message},
                )
        result = self._writer.upsert(list(valid.values())) if valid else UpsertResult()
        summary.created += result.created
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        if page.items:
            self._store.save_watermark(max(i.updated_at for i in page.items))
