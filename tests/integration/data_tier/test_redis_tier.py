"""Redis behind Sentinel and as a Cluster, real processes: the one client factory follows a failover,
a promoted replica that lost the last generation bump never serves entries from before it, and every
script and multi-key operation runs on a three-master Cluster (hash-tagged keys)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from auth_service.broker import TokenBroker
from catalog_service.cache_generation import record_key
from catalog_service.response_cache import CacheSettings, ResponseCache
from devstack import processes, replication
from farmlokal_common.admission import Admission
from farmlokal_common.rate_limit import Limit, RateLimiter
from farmlokal_common.redis_client import RedisTarget, connect
from tests.data_tier import SentinelRedis, start_sentinel_redis
from tests.integration.auth.test_broker import ScriptedProvider, make_broker


@pytest.fixture
def sentinel_redis(run_dir: Path) -> Iterator[SentinelRedis]:
    tier = start_sentinel_redis(run_dir / f"sentinel-{time.monotonic_ns()}", "redis")
    yield tier
    tier.stop()


def wait_for_master(tier: SentinelRedis, port: int, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if tier.master_port() == port:
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"the Sentinels did not promote {port} within {timeout:.0f}s")


def test_a_promoted_replica_that_lost_the_last_bump_never_serves_the_entries_from_before_it(
    sentinel_redis: SentinelRedis,
) -> None:
    tier = sentinel_redis
    client = connect(RedisTarget.of(tier.primary.url, tier.hosts, replication.SENTINEL_MASTER_NAME), 0.5)
    mysql_position = ["0-1-10"]  # what the primary MySQL has committed, as the cache asks it
    cache = ResponseCache(client, CacheSettings("catalog"), primary_floor=lambda: mysql_position[0])
    floors: list[str | None] = []

    def compute(floor: str | None) -> bytes:
        floors.append(floor)
        return f"page at {floor} #{len(floors)}".encode()

    assert cache.get_or_compute_at("q=mango", compute) == b"page at 0-1-10 #1"
    assert cache.get_or_compute_at("q=mango", compute) == b"page at 0-1-10 #1"  # cached
    key = record_key("catalog")
    replica = redis.Redis(port=tier.replica.port)
    deadline = time.monotonic() + 5
    while replica.hget(key, "n") != client.hget(key, "n") and time.monotonic() < deadline:
        time.sleep(0.02)
    inherited = replica.hget(key, "n")
    assert inherited is not None

    # The replica misses the next bump: frozen, its link cut, then the primary dies at once.
    os.kill(tier.replica.process.pid, signal.SIGSTOP)
    try:
        redis.Redis(port=tier.primary.port).client_kill_filter(_type="replica")
        mysql_position[0] = "0-1-11"
        cache.bump_generation("0-1-11")  # the write at 0-1-11 returned
        tier.primary.process.process.kill()
        tier.primary.process.process.wait(5)
    finally:
        os.kill(tier.replica.process.pid, signal.SIGCONT)
    took = wait_for_master(tier, tier.replica.port)
    print(f"Sentinel promoted the replica {took:.1f} s after the primary was killed")
    assert replica.hget(key, "n") == inherited, "the promoted replica has the bump: the test shows nothing"

    # The same client, no restart: it follows the failover, finds the inherited record stale and
    # re-derives it from MySQL's position before serving anything.
    deadline = time.monotonic() + 10
    while True:
        value = cache.get_or_compute_at("q=mango", compute)
        if floors[-1] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert value == f"page at 0-1-11 #{len(floors)}".encode(), value
    assert floors[-1] == "0-1-11"
    assert cache.read_floor() == "0-1-11"
    assert cache.get_or_compute_at("q=mango", compute) == value  # cached again on the new master
    assert client.connection_pool.get_master_address()[1] == tier.replica.port


def test_a_record_written_by_another_master_is_re_derived(redis_client: redis.Redis) -> None:
    cache = ResponseCache(redis_client, CacheSettings("catalog"), primary_floor=lambda: "0-1-7")
    assert cache.get_or_compute_at("q", lambda floor: f"at {floor}".encode()) == b"at 0-1-7"
    redis_client.hset(record_key("catalog"), "epoch", "another-master")
    redis_client.hset(record_key("catalog"), "gtid", "0-1-3")
    cache = ResponseCache(redis_client, CacheSettings("catalog"), primary_floor=lambda: "0-1-9")
    assert cache.get_or_compute_at("q", lambda floor: f"at {floor}".encode()) == b"at 0-1-9"
    cache.bump_generation("0-1-8")  # an older write bumping late cannot move the floor back
    assert cache.read_floor() == "0-1-9"
    cache.bump_generation("0-1-12")
    assert cache.read_floor() == "0-1-12"


# ---- Redis Cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(run_dir: Path) -> Iterator[redis.RedisCluster]:
    ports = [processes.free_port() for _ in range(3)]
    nodes = replication.start_cluster(ports, run_dir / "redis-cluster")
    client = redis.RedisCluster(host="127.0.0.1", port=ports[0], socket_timeout=1)
    yield client
    client.close()
    for node in nodes:
        node.stop()


def test_the_cluster_spreads_slots_over_three_masters(cluster: redis.RedisCluster) -> None:
    masters = {node.name for node in cluster.get_primaries()}
    assert len(masters) == 3
    # The catalog's keys share one slot: its record, an entry, its lock, a cached route's limit.
    slots = {
        cluster.keyslot(k) for k in (record_key("catalog"), "{catalog}:resp:x-1:abc", "{catalog}:rl:a:b")
    }
    assert len(slots) == 1


def test_cache_lookup_with_its_rate_limit_check_and_the_single_flight_lock(
    cluster: redis.RedisCluster,
) -> None:
    client = cluster  # type: ignore[assignment]
    leader = ResponseCache(
        client, CacheSettings("catalog", lock_ttl_seconds=5), primary_floor=lambda: "0-1-1"
    )
    follower = ResponseCache(client, CacheSettings("catalog"), primary_floor=lambda: "0-1-1")
    limiter = RateLimiter(client, {"ListProducts": Limit(5, 60)}, prefix="{catalog}:rl")
    started = threading.Event()
    computed = []

    def slow(floor: str | None) -> bytes:
        computed.append(floor)
        started.set()
        time.sleep(0.5)
        return b"page"

    results: list[bytes] = []
    first = threading.Thread(target=lambda: results.append(leader.get_or_compute_at("q=cluster", slow)))
    first.start()
    started.wait(5)
    assert follower.get_or_compute_at("q=cluster", slow) == b"page"  # waited on the lock, polled by MGET
    first.join()
    assert results == [b"page"] and computed == ["0-1-1"]

    decisions = []
    for _ in range(6):
        check = Admission(limiter, "ListProducts", "ip:10.1.2.3", Limit(5, 60))
        try:
            follower.get_or_compute_at("q=cluster", slow, check)
        except Exception as error:  # the sixth: rate limited in the lookup's own script
            decisions.append(type(error).__name__)
        else:
            decisions.append("ok")
    assert decisions == ["ok"] * 5 + ["RateLimited"]
    leader.bump_generation("0-1-2")
    assert follower.read_floor() == "0-1-2"


def test_rate_limiter_on_the_cluster(cluster: redis.RedisCluster) -> None:
    limiter = RateLimiter(cluster, {"*": Limit(3, 60)})  # type: ignore[arg-type]
    allowed = [limiter.check("GetProduct", f"ip:{n % 2}") for n in range(8)]
    assert [d.allowed for d in allowed if d is not None] == [True] * 6 + [False] * 2


def test_token_broker_lock_on_the_cluster(cluster: redis.RedisCluster) -> None:
    provider = ScriptedProvider(delay=0.2)
    brokers: list[TokenBroker] = [make_broker(cluster, provider) for _ in range(3)]  # type: ignore[arg-type]
    barrier = threading.Barrier(30)
    tokens = set()

    def call(i: int) -> None:
        barrier.wait()
        tokens.add(brokers[i % 3].get("aud-cluster", "s").token.access_token)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert provider.calls == 1 and len(tokens) == 1
    fingerprint = brokers[0].get("aud-cluster", "s").token.fingerprint
    assert brokers[1].invalidate(fingerprint, "aud-cluster", "s")  # the compare-and-delete script
