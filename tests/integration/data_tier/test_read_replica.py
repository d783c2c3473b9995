"""Catalog reads on a real MariaDB GTID replica: read-your-writes however far it lags, lagging or dead
replicas left alone, reads back on it when it catches up, and nothing on the read path writes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from farmlokal.catalog.v1 import catalog_pb2 as pb
from prometheus_client import REGISTRY
from sqlalchemy import Engine, create_engine, text

from catalog_service.catalog import Catalog
from catalog_service.listing.cursor import CursorCodec
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.listing.reader import ProductReader
from catalog_service.product_input import product_fields
from catalog_service.read_routing import ReadRouter, ReplicaMonitor, ReplicaSettings
from catalog_service.response_cache import CacheSettings, ResponseCache
from catalog_service.transport.presenters import CachedResponses
from catalog_service.transport.requests import parse_list_request
from catalog_service.writes import ProductWriter
from farmlokal_common import gtid
from farmlokal_common.db import make_engine
from farmlokal_common.errors import Unavailable
from farmlokal_common.migrations import upgrade
from farmlokal_common.settings import ServiceSettings
from tests.conftest import MIGRATIONS, RedisServer
from tests.data_tier import ReplicatedMariaDB, com_select, start_replicated_mariadb

CURSORS = CursorCodec(b"test-secret")
POOL = "test_replica"
MAX_LAG = 1.5


@pytest.fixture(scope="module")
def pair(run_dir: Path) -> Iterator[ReplicatedMariaDB]:
    tier = start_replicated_mariadb(run_dir, "read-replica")
    upgrade(MIGRATIONS["catalog"], tier.primary.service_url("catalog"))
    yield tier
    tier.stop()


class Reads:
    """The catalog's read side wired as bootstrap wires it, on the pair (the monitor polled by hand)."""

    def __init__(self, pair: ReplicatedMariaDB, redis_url: str) -> None:
        settings = ServiceSettings()
        self.engine = create_engine(pair.primary.service_url("catalog"), pool_size=5)
        self.primary = make_engine(
            pair.primary.service_url("catalog"), settings, read_only=True, pool_name=POOL + "_p"
        )
        self.replica = make_engine(
            pair.replica.service_url("catalog"), settings, read_only=True, pool_name=POOL
        )
        self.monitor = ReplicaMonitor(self.primary, self.replica, ReplicaSettings(MAX_LAG, 0.1, 0.2), POOL)
        self.router = ReadRouter(self.primary, self.replica, self.monitor, wait_seconds=0.1)
        client = redis.Redis.from_url(redis_url, socket_timeout=0.5)
        self.cache = ResponseCache(
            client, CacheSettings("catalog"), primary_floor=lambda: gtid.primary_position(self.engine)
        )
        self.catalog = Catalog(ProductReader(self.router), self.cache, CachedResponses(CURSORS))
        self.writer = ProductWriter(self.engine, self.cache, hooks=[SearchIndexer()])

    def listed(self, **params: str) -> pb.ListProductsResponse:
        query = parse_list_request(pb.ListProductsRequest(**params), CURSORS)
        return pb.ListProductsResponse.FromString(self.catalog.list_products(query))

    def close(self) -> None:
        for engine in (self.engine, self.primary, self.replica):
            engine.dispose()


@pytest.fixture
def reads(pair: ReplicatedMariaDB, redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[Reads]:
    wired = Reads(pair, redis_server.url)
    wired.writer.upsert(
        [product_fields(f"rr-{n}", f"Basmati Rice {n}", "aged", "Grains", "90.00", 5) for n in range(5)]
    )
    pair.wait_caught_up()
    wired.monitor.check_once()
    yield wired
    pair.resume()
    wired.close()


def routed(route: str) -> float:
    return REGISTRY.get_sample_value("farmlokal_db_reads_total", {"pool": POOL, "route": route}) or 0.0


def on_replica(pair: ReplicatedMariaDB, external_id: str) -> int:
    engine = create_engine(pair.replica.service_url("catalog"))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT COUNT(*) FROM products WHERE external_id = :e"), {"e": external_id}
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def test_a_write_is_read_back_while_the_replica_applies_nothing_then_reads_return_to_it(
    pair: ReplicatedMariaDB, reads: Reads
) -> None:
    assert reads.listed(q="saffron").products == []  # cached: the generation before the write
    pair.pause()
    reads.writer.upsert(
        [product_fields("rr-saffron", "Kashmiri Saffron", "hand picked", "Spices", "450.00", 3)]
    )
    assert on_replica(pair, "rr-saffron") == 0, "the replica applied the write: the test shows nothing"

    timeouts, behind = routed("primary_wait_timeout"), routed("primary_replica_behind")
    listing = reads.listed(q="saffron")
    assert [p.name for p in listing.products] == ["Kashmiri Saffron"]
    assert routed("primary_wait_timeout") == timeouts + 1  # waited 0.1 s on the replica, then the primary
    product = reads.catalog.get_product(int(listing.products[0].id))
    assert product.name == "Kashmiri Saffron"
    # The same floor again: known not reached, so straight to the primary without another wait.
    assert routed("primary_wait_timeout") == timeouts + 1 and routed("primary_replica_behind") == behind + 1

    pair.resume()
    pair.wait_caught_up()
    reads.monitor.check_once()
    counting = com_select(pair.primary)
    primary_before = com_select(pair.primary)
    own = primary_before - counting  # the SELECTs a count itself costs (connect, SHOW STATUS)
    replica_before, on_it = com_select(pair.replica), routed("replica")
    for n in range(10):
        assert reads.listed(q="saffron", limit=str(n + 1)).products[0].name == "Kashmiri Saffron"
        assert reads.catalog.get_product(int(listing.products[0].id)).name == "Kashmiri Saffron"
    assert routed("replica") == on_it + 20
    assert com_select(pair.replica) - replica_before >= 20
    assert com_select(pair.primary) - primary_before == own  # not one of the 20 reads


def test_a_lagging_replica_is_left_alone_until_it_catches_up(pair: ReplicatedMariaDB, reads: Reads) -> None:
    pair.pause()
    reads.writer.upsert([product_fields("rr-lag", "Jaggery Block", "unrefined", "Pantry", "60.00", 9)])
    reads.monitor.check_once()
    time.sleep(MAX_LAG + 0.3)
    state = reads.monitor.check_once()
    assert state.reachable and state.lag_seconds > MAX_LAG
    lag = REGISTRY.get_sample_value("farmlokal_db_replica_lag_seconds", {"pool": POOL})
    assert lag is not None and lag > MAX_LAG
    with pytest.raises(Unavailable, match=r"lag .* beyond"):
        reads.monitor.check_health()
    before = routed("primary_replica_lagging")
    reads.listed(q="jaggery")
    reads.listed(category="grains")  # no write it must see, but the replica is too far behind
    assert routed("primary_replica_lagging") == before + 2

    pair.resume()
    pair.wait_caught_up()
    state = reads.monitor.check_once()
    assert state.lag_seconds == 0.0
    reads.monitor.check_health()
    before = routed("replica")
    assert reads.listed(q="jaggery", limit="3").products[0].name == "Jaggery Block"
    assert routed("replica") == before + 1


def test_a_dead_replica_sends_reads_to_the_primary_at_once_and_back_when_it_returns(
    pair: ReplicatedMariaDB, reads: Reads
) -> None:
    reads.listed(category="grains", limit="2")  # a pooled replica connection that is about to break
    pair.kill_replica()
    try:
        before = routed("primary_replica_down")
        assert len(reads.listed(category="grains", limit="3").products) == 3  # no error: retried there
        assert routed("primary_replica_down") == before + 1
        state = reads.monitor.check_once()
        assert not state.reachable
        with pytest.raises(Unavailable, match="unreachable"):
            reads.monitor.check_health()
        assert len(reads.listed(category="grains", limit="4").products) == 4
        assert routed("primary_replica_down") == before + 2
    finally:
        pair.start_replica()
    pair.wait_caught_up()
    assert reads.monitor.check_once().reachable
    before = routed("replica")
    assert len(reads.listed(category="grains", limit="5").products) == 5
    assert routed("replica") == before + 1


def test_nothing_on_the_read_path_writes_it_runs_on_the_read_only_replica(
    pair: ReplicatedMariaDB, reads: Reads
) -> None:
    """Every kind of read, on a replica with read_only=1 that refuses writes by the catalog's user."""
    engine: Engine = reads.replica
    with engine.connect() as conn:
        assert conn.execute(text("SELECT @@read_only")).scalar() == 1
        with pytest.raises(Exception, match="read-only"):
            conn.execute(text("UPDATE products SET stock = stock WHERE external_id = 'rr-1'"))
    reader = ProductReader(ReadRouter(engine))  # the replica alone, no primary to fall back to
    shapes = [
        {},
        {"sort": "price", "order": "asc"},
        {"sort": "name", "category": "grains"},
        {"min_price": "10", "max_price": "100", "sort": "created_at"},
        {"q": "basmati"},
        {"q": "basmati rice", "sort": "price"},
        {"q": "bas"},
    ]
    for params in shapes:
        query = parse_list_request(pb.ListProductsRequest(limit="2", **params), CURSORS)
        page = reader.list_page(query, "")
        if page.has_more:
            after = page.last_position(query.sort)
            reader.list_page(dataclasses.replace(query, after=after), "")
    first = reader.list_page(parse_list_request(pb.ListProductsRequest(limit="1"), CURSORS), "").products[0]
    assert reader.get(first.id, "") is not None
    assert reader.categories("")
