"""A bulkhead: at most N threads serving calls may be inside the database at once; the rest get a 503.

When the database stalls, every thread that reaches it waits for its socket timeout. Without a bound
all of a process's serving threads end up waiting there, and calls that need no database at all
(cache hits) queue behind them. With it, at most `slots` serving threads wait; a call that finds no
free slot within a short wait is answered 503 at once and its thread is free again.

It sits in the connection pool (`BulkheadPool.connect`), so it covers every path that reaches the
database (listings, products, writes, status) and none that does not. Background workers are not
serving threads and take no slot: they do not hold up calls.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from farmlokal_common import request_context
from farmlokal_common.dependency_errors import DATABASE_BUSY
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import DB_BULKHEAD_REJECTIONS
from farmlokal_common.pool_metrics import WatchedQueuePool

_HOLDS_SLOT = "farmlokal_bulkhead_slot"


class Bulkhead:
    """Shared by every engine of a process: the slots bound its serving threads, whatever the engine."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        if slots < 1:
            raise ValueError("a bulkhead needs at least one slot")
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)
        self._wait = wait_seconds

    def enter(self) -> bool:
        """Takes a slot for a serving thread (False, nothing taken, on other threads).

        Raises Unavailable when no slot frees up within the wait."""
        if not request_context.serving():
            return False
        if not self._free.acquire(timeout=self._wait):
            DB_BULKHEAD_REJECTIONS.inc()
            raise Unavailable(DATABASE_BUSY)
        return True

    def leave(self) -> None:
        self._free.release()


class BulkheadPool(WatchedQueuePool):
    """A QueuePool whose checkouts by serving threads first take a slot of `bulkhead` (if set); the slot
    is given back when the connection returns to the pool."""

    bulkhead: Bulkhead | None = None

    def connect(self) -> PoolProxiedConnection:
        bulkhead = self.bulkhead
        if bulkhead is None or not bulkhead.enter():
            return super().connect()
        try:
            connection = super().connect()
        except BaseException:
            bulkhead.leave()
            raise
        record_info = connection.record_info
        if record_info is None:  # a detached connection: no checkin will come, so no slot is held
            bulkhead.leave()
        else:
            record_info[_HOLDS_SLOT] = True
        return connection

    def recreate(self) -> BulkheadPool:
        pool = super().recreate()
        assert isinstance(pool, BulkheadPool)
        pool.bulkhead = self.bulkhead
        return pool


def attach(engine: Engine, bulkhead: Bulkhead) -> None:
    """Puts `bulkhead` in front of the engine's pool (a BulkheadPool, see db.make_engine)."""
    pool = engine.pool
    if not isinstance(pool, BulkheadPool):
        raise TypeError("the engine's pool is not a BulkheadPool")
    pool.bulkhead = bulkhead

    @event.listens_for(engine, "checkin")
    def give_back(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        if entry.record_info is not None and entry.record_info.pop(_HOLDS_SLOT, False):
            bulkhead.leave()
