"""Prometheus gauges of SQLAlchemy connection pools, read when scraped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool


class WatchedQueuePool(QueuePool):
    """QueuePool that counts the threads waiting for a connection (the pool is exhausted)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._waiting

    def _do_get(self) -> Any:
        with self._waiting_lock:
            self._waiting += 1
        try:
            return super()._do_get()
        finally:
            with self._waiting_lock:
                self._waiting -= 1


class PoolCollector(Collector):
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def add(self, name: str, engine: Engine) -> None:
        self._engines[name] = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily("farmlokal_db_pool_in_use", "Connections checked out", labels=["pool"])
        size = GaugeMetricFamily("farmlokal_db_pool_size", "Configured pool size", labels=["pool"])
        waiting = GaugeMetricFamily(
            "farmlokal_db_pool_waiting", "Threads waiting for a pooled connection", labels=["pool"]
        )
        overflow = GaugeMetricFamily(
            "farmlokal_db_pool_overflow", "Connections open beyond the pool size", labels=["pool"]
        )
        for name, engine in self._engines.items():
            pool = engine.pool
            if isinstance(pool, QueuePool):
                in_use.add_metric([name], pool.checkedout())
                size.add_metric([name], pool.size())
                overflow.add_metric([name], max(0, pool.overflow()))
            if isinstance(pool, WatchedQueuePool):
                waiting.add_metric([name], pool.waiting)
        yield from (in_use, size, overflow, waiting)


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def watch_pool(name: str, engine: Engine) -> None:
    POOLS.add(name, engine)
