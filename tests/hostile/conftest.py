"""The hostile suite's stack: the three services behind a real Envoy edge, with their own MariaDB,
Redis and sandbox, seeded with a small catalog. Every test here plays a hostile or careless client
(or a bad day in production) and asserts what the other clients of the edge would notice.

Each test module names the class of bug it guards in its docstring; a test names the case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from devstack import services
from tests.conftest import MariaDB, RedisServer, start_mariadb, start_redis
from tests.e2e.auth_sandbox import SandboxProcess, start_sandbox
from tests.e2e.conftest import Edge, running_stack

PRODUCTS = 500


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostile: hostile clients against a real edge (tests/hostile)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(__file__).parent in item.path.parents:
            item.add_marker(pytest.mark.hostile)


@pytest.fixture(scope="session")
def hostile_mariadb(run_dir: Path) -> Iterator[MariaDB]:
    server = start_mariadb(run_dir, "hostile-mariadb")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def hostile_redis(run_dir: Path) -> Iterator[RedisServer]:
    server = start_redis(run_dir, "hostile-redis")
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def hostile_sandbox(run_dir: Path) -> Iterator[SandboxProcess]:
    server = start_sandbox(run_dir / "hostile", "sandbox")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hostile_edge(
    run_dir: Path, hostile_mariadb: MariaDB, hostile_redis: RedisServer, hostile_sandbox: SandboxProcess
) -> Iterator[Edge]:
    """The stack a hostile client meets: rate limits high enough for the tests' own traffic."""
    env = {
        # The health routes keep their default limit: test_health_flood provokes it.
        "CATALOG_RATE_LIMITS": "GetHealth=10/1,GetReadiness=10/1,*=1000/1",
        "WEBHOOK_RATE_LIMITS": "*=1000/1",
        "AUTH_RATE_LIMITS": "*=1000/1",
    }
    with running_stack(run_dir, "hostile", hostile_mariadb, hostile_redis, hostile_sandbox, env) as stack:
        services.seed(stack.plans["catalog"], PRODUCTS, run_dir / "hostile" / "seed.log")
        yield stack


@pytest.fixture
def client(hostile_edge: Edge) -> Iterator[httpx.Client]:
    with hostile_edge.client() as http:
        yield http


@pytest.fixture
def edge_channel(hostile_edge: Edge) -> Iterator[grpc.Channel]:
    """A native gRPC channel through the edge (the public listener)."""
    channel = grpc.insecure_channel(hostile_edge.grpc_target)
    yield channel
    channel.close()
