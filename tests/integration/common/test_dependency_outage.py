"""A dependency that cannot be reached (real MySQL and Redis clients against a closed port or a reset
proxy) reaches the client as UNAVAILABLE naming it, never as INTERNAL; real bugs stay INTERNAL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import grpc
import pytest
import redis
from farmlokal.catalog.v1 import catalog_pb2 as pb
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc

from devstack.fault_proxy import FaultProxy
from devstack.processes import free_port
from farmlokal_common.dependency_errors import (
    DATABASE_BUSY,
    DATABASE_UNAVAILABLE,
    REDIS_UNAVAILABLE,
    as_unavailable,
)
from farmlokal_common.server import RunningServer, ServiceApp, create_server
from farmlokal_common.settings import ServiceSettings

SERVICE = "farmlokal.catalog.v1.CatalogService"
Failure = Callable[[], None]


def mysql_down() -> None:
    engine = create_engine(
        f"mysql+mysqldb://catalog_svc:pw@127.0.0.1:{free_port()}/catalog", connect_args={"connect_timeout": 1}
    )
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def redis_down() -> None:
    redis.Redis(port=free_port(), socket_connect_timeout=0.5).get("k")


def bad_sql(mariadb_url: str) -> Failure:
    def run() -> None:
        with create_engine(mariadb_url).connect() as conn:
            conn.execute(text("SELECT no_such_column FROM no_such_table"))

    return run


@pytest.fixture
def serve() -> Iterator[Callable[[Failure], grpc.Channel]]:
    started: list[tuple[RunningServer, grpc.Channel]] = []

    def start(failure: Failure) -> grpc.Channel:
        def behaviour(request: pb.GetProductRequest, context: grpc.ServicerContext) -> pb.Product:
            failure()
            return pb.Product(id=1)

        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "GetProduct": grpc.unary_unary_rpc_method_handler(
                    behaviour, pb.GetProductRequest.FromString, pb.Product.SerializeToString
                )
            },
        )
        app = ServiceApp(service_names=[SERVICE], register=lambda s: s.add_generic_rpc_handlers((handler,)))
        running = create_server("127.0.0.1:0", app, ServiceSettings())
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        started.append((running, channel))
        return channel

    yield start
    for running, channel in started:
        channel.close()
        running.stop(0)


def call(channel: grpc.Channel) -> grpc.RpcError:
    stub = channel.unary_unary(
        f"/{SERVICE}/GetProduct", pb.GetProductRequest.SerializeToString, pb.Product.FromString
    )
    with pytest.raises(grpc.RpcError) as info:
        stub(pb.GetProductRequest(id="1"), timeout=10)
    return info.value


@pytest.mark.parametrize(
    ("failure", "message"), [(mysql_down, DATABASE_UNAVAILABLE), (redis_down, REDIS_UNAVAILABLE)]
)
def test_an_unreachable_dependency_is_unavailable_naming_it(serve, caplog, failure, message) -> None:
    with caplog.at_level(logging.WARNING, logger="farmlokal.errors"):
        error = call(serve(failure))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == message
    outage_logs = [r for r in caplog.records if r.getMessage() == "dependency unavailable"]
    assert len(outage_logs) == 1 and outage_logs[0].exc_info is None  # expected: no stack trace
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_connection_reset_mid_session_is_unavailable(serve, migrated) -> None:
    """A pooled connection cut by a reset (MariaDB restarted, a network blip) → 2013 → UNAVAILABLE."""
    with FaultProxy("127.0.0.1", migrated.port) as proxy:
        url = migrated.service_url("catalog").replace(f":{migrated.port}/", f":{proxy.port}/")
        engine = create_engine(url, pool_size=1, max_overflow=0)
        conn = engine.connect()
        conn.execute(text("SELECT 1"))

        def query_after_reset() -> None:
            proxy.reset()
            conn.execute(text("SELECT 1"))

        error = call(serve(query_after_reset))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, DATABASE_UNAVAILABLE)
        conn.close()
        engine.dispose()


def test_a_bad_query_stays_internal_without_internals(serve, migrated, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="farmlokal.errors"):
        error = call(serve(bad_sql(migrated.service_url("catalog"))))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "no_such" not in error.details()
    assert any(r.exc_info for r in caplog.records)


def test_translation_table() -> None:
    lost = sa_exc.OperationalError("SELECT 1", {}, Exception(2013, "Lost connection"))
    deadlock = sa_exc.OperationalError("UPDATE", {}, Exception(1213, "Deadlock found"))
    duplicate = sa_exc.IntegrityError("INSERT", {}, Exception(1062, "Duplicate entry"))
    invalidated = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    pool_timeout = sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")
    assert as_unavailable(lost).message == DATABASE_UNAVAILABLE  # type: ignore[union-attr]
    assert as_unavailable(invalidated).message == DATABASE_UNAVAILABLE  # type: ignore[union-attr]
    assert as_unavailable(pool_timeout).message == DATABASE_BUSY  # type: ignore[union-attr]
    assert as_unavailable(redis.TimeoutError()).message == REDIS_UNAVAILABLE  # type: ignore[union-attr]
    assert as_unavailable(deadlock) is None
    assert as_unavailable(duplicate) is None
    assert as_unavailable(redis.ResponseError("WRONGTYPE")) is None
    assert as_unavailable(ValueError("x")) is None
