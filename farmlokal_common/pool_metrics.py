"""Prometheus gauges of SQLAlchemy connection pools, read when scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool


class PoolCollector(Collector):
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def add(self, name: str, engine: Engine) -> None:
        self._engines[name] = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily("farmlokal_db_pool_in_use", "Connections checked out", labels=["pool"])
        size = GaugeMetricFamily("farmlokal_db_pool_size", "Configured pool size", labels=["pool"])
        overflow = GaugeMetricFamily(
            "farmlokal_db_pool_overflow", "Connections open beyond the pool size", labels=["pool"]
        )
        for name, engine in self._engines.items():
            pool = engine.pool
            if isinstance(pool, QueuePool):
                in_use.add_metric([name], pool.checkedout())
                size.add_metric([name], pool.size())
                overflow.add_metric([name], max(0, pool.overflow()))
        yield from (in_use, size, overflow)


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def watch_pool(name: str, engine: Engine) -> None:
    POOLS.add(name, engine)
