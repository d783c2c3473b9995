"""Real pieces for the supplier integration: the sandbox (uvicorn in a thread: OAuth provider and supplier
API), the auth service's token broker over real gRPC, Redis, and a private migrated catalog schema."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import redis
import uvicorn
from farmlokal.auth.v1 import auth_internal_pb2 as apb
from farmlokal.auth.v1 import auth_internal_pb2_grpc as apb_grpc
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from auth_service.broker import BrokerSettings, TokenBroker
from auth_service.provider import ClientCredentials, TokenProvider
from auth_service.settings import AuthSettings
from auth_service.transport.servicers import TokenBrokerServicer
from catalog_service.listing.indexer import SearchIndexer
from catalog_service.response_cache import CacheSettings, ResponseCache
from catalog_service.supplier.client import BrokerTokens, SupplierClient
from catalog_service.supplier.status import SyncStore
from catalog_service.supplier.sync import SupplierSync, SyncSettings
from catalog_service.writes import ProductWriter
from devstack.processes import free_port
from farmlokal_common.circuit_breaker import BreakerSettings, UpstreamBreaker
from farmlokal_common.grpc_client import make_channel
from farmlokal_common.http_client import ResilientClient, Timeouts
from farmlokal_common.migrations import upgrade
from farmlokal_common.retry import RetryPolicy
from farmlokal_common.server import RunningServer, ServiceApp, create_server
from sandbox.app import create_app
from sandbox.settings import SandboxSettings
from tests.conftest import ROOT

PRODUCTS = 1200
AUDIENCE = "https://supplier.farmlokal.test"


@dataclass
class SandboxServer:
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=5)

    def fault(self, kind: str, count: int = 1, **options: Any) -> None:
        with self._client() as client:
            client.post(
                "/_sandbox/supplier/faults", json={"kind": kind, "count": count, **options}
            ).raise_for_status()

    def clear_faults(self) -> None:
        with self._client() as client:
            client.delete("/_sandbox/supplier/faults").raise_for_status()

    def mutate(self, count: int) -> list[str]:
        with self._client() as client:
            return client.post("/_sandbox/supplier/mutate", params={"count": count}).json()["changed"]

    def stats(self) -> dict[str, Any]:
        with self._client() as client:
            return client.get("/_sandbox/supplier/stats").json()

    def product(self, external_id: str) -> dict[str, Any]:
        """One product as the supplier serves it now (with a token of the sandbox's own provider)."""
        with self._client() as client:
            token = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("farmlokal-services", "dev-services-secret"),
            ).json()["access_token"]
            for page in (1, 2):
                body = client.get(
                    "/supplier/v1/products",
                    params={"page": page, "page_size": 1000},
                    headers={"authorization": f"Bearer {token}"},
                ).json()
                found = [p for p in body["products"] if p["external_id"] == external_id]
                if found:
                    return found[0]
        raise KeyError(external_id)

    def reset(self) -> None:
        with self._client() as client:
            client.post("/_sandbox/supplier/reset").raise_for_status()
            client.post("/_sandbox/oauth/reset").raise_for_status()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    port = free_port()
    settings = SandboxSettings(port=port, supplier_product_count=PRODUCTS, log_level="warning")
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.02)
    yield SandboxServer(port, server, thread)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


class CountingBrokerServicer(TokenBrokerServicer):
    """The real broker servicer, counting the calls the supplier client makes."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: dict[str, int] = {"GetAccessToken": 0, "InvalidateToken": 0}

    def GetAccessToken(self, request, context):
        self.calls["GetAccessToken"] += 1
        return super().GetAccessToken(request, context)

    def InvalidateToken(self, request, context):
        self.calls["InvalidateToken"] += 1
        return super().InvalidateToken(request, context)


@dataclass
class AuthService:
    running: RunningServer
    servicer: CountingBrokerServicer
    channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def channel(self) -> grpc.Channel:
        channel = make_channel(self.address)
        self.channels.append(channel)
        return channel


@pytest.fixture
def auth_service(sandbox: SandboxServer, redis_client: redis.Redis) -> Iterator[AuthService]:
    """The auth service's token broker (real provider client against the sandbox) over real gRPC."""
    http = httpx.Client(trust_env=False)
    provider = TokenProvider(
        http,
        ClientCredentials(f"{sandbox.url}/oauth/token", "farmlokal-services", "dev-services-secret"),
        RetryPolicy(max_attempts=2, base_delay_seconds=0.01),
    )
    broker = TokenBroker(redis_client, provider, BrokerSettings(namespace=f"test-{sandbox.port}"))
    servicer = CountingBrokerServicer(broker, AUDIENCE, "supplier:read")
    app = ServiceApp(
        service_names=[apb.DESCRIPTOR.services_by_name["TokenBrokerService"].full_name],
        register=lambda server: apb_grpc.add_TokenBrokerServiceServicer_to_server(servicer, server),
    )
    running = create_server("127.0.0.1:0", app, AuthSettings())
    service = AuthService(running, servicer)
    yield service
    for channel in service.channels:
        channel.close()
    running.stop(0.5)
    http.close()


FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.02)
SHORT_TIMEOUTS = Timeouts(connect=0.5, read=0.5, write=0.5, pool=0.5)


@pytest.fixture
def make_client(
    sandbox: SandboxServer, auth_service: AuthService, redis_client: redis.Redis
) -> Iterator[Callable[..., SupplierClient]]:
    """Builds one replica's supplier client: its own breaker instance and HTTP pool, shared Redis."""
    pools: list[httpx.Client] = []

    def build(
        fail_max: int = 3,
        reset: float = 1.0,
        policy: RetryPolicy = FAST_RETRIES,
        timeouts: Timeouts = SHORT_TIMEOUTS,
        deadline: float = 5.0,
    ) -> SupplierClient:
        http = httpx.Client(trust_env=False)
        pools.append(http)
        breaker = UpstreamBreaker("supplier_api", redis_client, BreakerSettings(fail_max, reset))
        resilient = ResilientClient(
            "supplier_api", http, policy=policy, timeouts=timeouts, breaker=breaker, deadline_seconds=deadline
        )
        return SupplierClient(resilient, BrokerTokens(auth_service.channel()), sandbox.url)

    yield build
    for http in pools:
        http.close()


TABLES = (
    "search_postings",
    "product_search",
    "search_words",
    "category_counts",
    "catalog_outbox",
    "products",
    "supplier_sync_state",
    "supplier_sync_runs",
)


@pytest.fixture(scope="session")
def supplier_catalog_engine(mariadb) -> Iterator[Engine]:
    """A private catalog schema, so the synced rows never meet other suites' rows."""
    admin = create_engine(mariadb.root_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS `supplier_tests`"))
        conn.execute(text("CREATE DATABASE `supplier_tests` CHARACTER SET utf8mb4"))
    admin.dispose()
    url = make_url(mariadb.root_url).set(database="supplier_tests").render_as_string(hide_password=False)
    upgrade(ROOT / "catalog_service" / "migrations", url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_engine(supplier_catalog_engine: Engine) -> Engine:
    with supplier_catalog_engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    return supplier_catalog_engine


@pytest.fixture
def make_sync(make_client, catalog_engine: Engine, redis_client: redis.Redis) -> Callable[..., SupplierSync]:
    def build(client: SupplierClient | None = None, page_size: int = 500) -> SupplierSync:
        cache = ResponseCache(redis_client, CacheSettings("catalog"))
        writer = ProductWriter(catalog_engine, cache, hooks=[SearchIndexer()])
        return SupplierSync(
            client or make_client(),
            writer,
            SyncStore(catalog_engine),
            redis_client,
            SyncSettings(page_size=page_size),
        )

    return build
