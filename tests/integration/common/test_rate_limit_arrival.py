"""Rate limits are charged at a request's arrival, not when a serving thread gets to it.

A client that stays under its limit must not be rejected because its requests queued behind a slow
call (a stalled database holding every thread) and were then charged all at once. Both ways a
request is charged are covered: the limiter's own script and the check the response cache answers
in its lookup script (deferred routes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
import redis
from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.response_cache import CacheSettings, ResponseCache
from farmlokal_common.admission import Admissions
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.rate_limit import Limit, RateLimiter
from farmlokal_common.server import RunningServer, ServiceApp, create_server
from farmlokal_common.settings import ServiceSettings

SERVICE = "farmlokal.catalog.v1.CatalogService"
# 5 requests a second (one per 200 ms, bursts of 5); the client below sends one every 250 ms.
LIMIT = Limit(5, 1.0)
SPACING_SECONDS = 0.25
QUEUED = 8


class Servicer:
    """ListCategories holds the server's only thread until released; the other two are limited."""

    def __init__(self, cache: ResponseCache, admissions: Admissions) -> None:
        self.cache = cache
        self.admissions = admissions
        self.release = threading.Event()

    def list_categories(self, request: pb.ListCategoriesRequest, context: grpc.ServicerContext) -> bytes:
        self.release.wait(10)
        return b""

    def list_products(self, request: pb.ListProductsRequest, context: grpc.ServicerContext) -> bytes:
        return self.cache.get_or_compute(f"q={request.q}", lambda: b"", self.admissions.of(context))

    def get_product(self, request: pb.GetProductRequest, context: grpc.ServicerContext) -> bytes:
        return b""


def _handler(behavior: object, request_type: type) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(behavior, request_type.FromString, lambda b: b)


@pytest.fixture
def one_thread_server(redis_client: redis.Redis) -> Iterator[tuple[grpc.Channel, Servicer]]:
    admissions = Admissions(["ListProducts"])
    servicer = Servicer(ResponseCache(redis_client, CacheSettings("t")), admissions)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ListCategories": _handler(servicer.list_categories, pb.ListCategoriesRequest),
            "ListProducts": _handler(servicer.list_products, pb.ListProductsRequest),
            "GetProduct": _handler(servicer.get_product, pb.GetProductRequest),
        },
    )
    limiter = RateLimiter(redis_client, {"ListProducts": LIMIT, "GetProduct": LIMIT})
    app = ServiceApp(
        service_names=[SERVICE],
        register=lambda s: s.add_generic_rpc_handlers((handler,)),
        interceptors=[RateLimitInterceptor(limiter, [SERVICE], admissions)],
    )
    server: RunningServer = create_server("127.0.0.1:0", app, ServiceSettings(thread_pool_size=1))
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield channel, servicer
    servicer.release.set()
    channel.close()
    server.stop(0)


@pytest.mark.parametrize(
    ("route", "request_message"),
    [("ListProducts", pb.ListProductsRequest(q="warm")), ("GetProduct", pb.GetProductRequest(id="1"))],
    ids=["deferred-to-the-cache-script", "limiter-script"],
)
def test_requests_that_queued_behind_a_slow_call_are_charged_when_they_arrived(
    one_thread_server: tuple[grpc.Channel, Servicer], route: str, request_message: object
) -> None:
    channel, servicer = one_thread_server
    block = channel.unary_unary(f"/{SERVICE}/ListCategories", lambda m: m.SerializeToString(), lambda b: b)
    call = channel.unary_unary(f"/{SERVICE}/{route}", lambda m: m.SerializeToString(), lambda b: b)
    blocked = block.future(pb.ListCategoriesRequest(), timeout=15)
    time.sleep(0.2)  # the slow call holds the only thread from here on

    queued = []
    for _ in range(QUEUED):
        queued.append(call.future(request_message, timeout=15))
        time.sleep(SPACING_SECONDS)
    assert not any(f.done() for f in queued), "the calls should have waited for the blocked thread"
    servicer.release.set()
    blocked.result()

    codes = []
    for future in queued:
        try:
            future.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
    # Arriving one per 250 ms is under 5 per second; charged on dequeue they were a burst of 8.
    assert codes == [grpc.StatusCode.OK] * QUEUED


def _queued_for(monkeypatch: pytest.MonkeyPatch, milliseconds: int) -> None:
    monkeypatch.setattr("farmlokal_common.rate_limit.arrival_age_ms", lambda: milliseconds)


def test_a_request_that_queued_while_the_clients_later_ones_were_served_is_not_refused(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of order: two later requests were charged while this one queued for 3 s. The client is at
    3 of its 5 a second, so it passes (it was refused, and under the bench's 1,000,000/s limit too)."""
    limiter = RateLimiter(redis_client, {"r": LIMIT})
    for _ in range(2):
        assert limiter.check("r", "client").allowed
    _queued_for(monkeypatch, 3_000)
    decision = limiter.check("r", "client")
    assert decision.allowed
    assert decision.remaining == 2  # counted like a third request now


def test_a_queued_request_of_a_client_over_its_limit_is_still_refused(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = RateLimiter(redis_client, {"r": LIMIT})
    for _ in range(LIMIT.requests):
        assert limiter.check("r", "client").allowed
    _queued_for(monkeypatch, 3_000)
    decision = limiter.check("r", "client")
    assert not decision.allowed
    assert 0 < decision.retry_after_seconds <= 1
