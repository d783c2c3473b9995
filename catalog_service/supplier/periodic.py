"""The periodic supplier sync: every replica runs the loop, one at a time syncs (the sync's Redis lock).

A replica skips its turn when any replica finished a run less than an interval ago (the runs are
recorded in MySQL), so N replicas do not sync N times per interval; with Redis down no replica runs
a periodic sync (manual syncs still work).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading

from catalog_service.supplier.status import SyncStore
from catalog_service.supplier.sync import SupplierSync, SyncBusy

log = logging.getLogger("farmlokal.catalog.supplier_periodic")


class PeriodicSync:
    def __init__(self, sync: SupplierSync, store: SyncStore, interval_seconds: float) -> None:
        self._sync = sync
        self._store = store
        self._interval = interval_seconds

    def run(self, stopping: threading.Event) -> None:
        # A random first wait spreads replicas that start together.
        while not stopping.wait(self._interval * random.uniform(0.5, 1.0)):
            try:
                self.tick()
            except Exception:
                log.exception("periodic supplier sync failed")

    def tick(self) -> bool:
        """Runs a sync when one is due and no other replica runs one; True when it ran."""
        latest = self._store.latest()
        if latest is not None:
            age = (dt.datetime.now(dt.UTC) - latest.finished_at).total_seconds()
            if age < self._interval:
                return False
        try:
            self._sync.run(trigger="periodic", require_lock=True)
        except SyncBusy:
            return False
        return True
