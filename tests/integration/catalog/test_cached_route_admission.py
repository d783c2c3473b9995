"""Rate-limit checks answered in the response cache's round trip (admissions): exact counts, headers,
no work when rejected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import redis
from farmlokal.catalog.v1 import catalog_pb2 as pb

from catalog_service.response_cache import CacheSettings, ResponseCache
from farmlokal_common.admission import Admission, Admissions
from farmlokal_common.errors import FieldViolation, InvalidArgument, RateLimited
from farmlokal_common.interceptors.rate_limiting import RateLimitInterceptor
from farmlokal_common.rate_limit import Limit, RateLimiter
from farmlokal_common.server import RunningServer, ServiceApp, create_server
from farmlokal_common.settings import ServiceSettings
from tests.redis_commands import CommandLog

SERVICE = "farmlokal.catalog.v1.CatalogService"


class Backend:
    def __init__(self, cache: ResponseCache, admissions: Admissions) -> None:
        self.cache = cache
        self.admissions = admissions
        self.computed = 0
        self._lock = threading.Lock()

    def list_products(
        self, request: pb.ListProductsRequest, context: grpc.ServicerContext
    ) -> pb.ListProductsResponse:
        if request.limit == "bad":
            raise InvalidArgument(FieldViolation("limit", "limit must be an integer between 1 and 100"))
        admission = self.admissions.of(context)
        return pb.ListProductsResponse.FromString(
            self.cache.get_or_compute(f"q={request.q}", self._compute, admission)
        )

    def _compute(self) -> bytes:
        with self._lock:
            self.computed += 1
        return pb.ListProductsResponse(next_cursor="c", has_more=True).SerializeToString()


def serve(
    redis_client: redis.Redis, requests: int, cache_enabled: bool = True
) -> tuple[RunningServer, Backend]:
    admissions = Admissions(["ListProducts"])
    backend = Backend(ResponseCache(redis_client, CacheSettings("t", enabled=cache_enabled)), admissions)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ListProducts": grpc.unary_unary_rpc_method_handler(
                backend.list_products,
                pb.ListProductsRequest.FromString,
                pb.ListProductsResponse.SerializeToString,
            )
        },
    )
    limiter = RateLimiter(redis_client, {"ListProducts": Limit(requests, 60)})
    app = ServiceApp(
        service_names=[SERVICE],
        register=lambda s: s.add_generic_rpc_handlers((handler,)),
        interceptors=[RateLimitInterceptor(limiter, [SERVICE], admissions)],
    )
    return create_server("127.0.0.1:0", app, ServiceSettings()), backend


@pytest.fixture
def channel_for(redis_client) -> Iterator:
    started: list[tuple[RunningServer, grpc.Channel]] = []

    def make(requests: int, cache_enabled: bool = True) -> tuple[grpc.Channel, Backend]:
        server, backend = serve(redis_client, requests, cache_enabled)
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        started.append((server, channel))
        return channel, backend

    yield make
    for server, channel in started:
        channel.close()
        server.stop(0)


def call(channel: grpc.Channel, limit: str = "", q: str = "mango", client: str = ""):
    method = channel.unary_unary(
        f"/{SERVICE}/ListProducts",
        pb.ListProductsRequest.SerializeToString,
        pb.ListProductsResponse.FromString,
    )
    metadata = (("x-forwarded-for", client),) if client else ()
    try:
        _, rpc = method.with_call(pb.ListProductsRequest(q=q, limit=limit), timeout=5, metadata=metadata)
        return grpc.StatusCode.OK, dict(rpc.initial_metadata())
    except grpc.RpcError as error:
        return error.code(), dict(error.trailing_metadata())


@pytest.mark.parametrize("cache_enabled", [True, False])
def test_limit_plus_k_concurrent_requests_reject_exactly_k(channel_for, cache_enabled: bool) -> None:
    channel, backend = channel_for(10, cache_enabled)
    with ThreadPoolExecutor(15) as pool:
        results = list(pool.map(lambda _: call(channel), range(15)))
    codes = [code for code, _ in results]
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 5
    for code, headers in results:
        assert headers["x-ratelimit-limit"] == "10"
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            assert headers["x-ratelimit-remaining"] == "0" and int(headers["retry-after"]) >= 1
    assert backend.computed == (1 if cache_enabled else 10)  # rejected requests did no work


def test_requests_that_fail_validation_are_counted_too(channel_for) -> None:
    channel, _ = channel_for(3)
    assert [call(channel, limit="bad")[0] for _ in range(3)] == [grpc.StatusCode.INVALID_ARGUMENT] * 3
    code, headers = call(channel)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and headers["x-ratelimit-remaining"] == "0"


def test_remaining_counts_down_through_the_gated_lookup(channel_for) -> None:
    channel, _ = channel_for(5)
    remaining = [call(channel, q=f"q{n % 2}")[1]["x-ratelimit-remaining"] for n in range(5)]
    assert remaining == ["4", "3", "2", "1", "0"]


def test_each_forwarded_client_has_its_own_budget_call_after_call(channel_for) -> None:
    """The handler is built once per method; the client is read from each call's own headers."""
    channel, _ = channel_for(2)
    seen = [call(channel, client=client) for client in ("10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.1")]
    assert [(code, headers["x-ratelimit-remaining"]) for code, headers in seen] == [
        (grpc.StatusCode.OK, "1"),
        (grpc.StatusCode.OK, "1"),
        (grpc.StatusCode.OK, "0"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "0"),
    ]


def test_cache_off_a_call_is_admitted_and_gets_its_floor_in_one_round_trip(redis_client) -> None:
    log = CommandLog(redis_client)
    client = log.client
    cache = ResponseCache(client, CacheSettings("t_off", enabled=False))
    cache.bump_generation("0-1-42")
    floors: list[str | None] = []
    limiter = RateLimiter(client, {"ListProducts": Limit(3, 60)})

    def compute(floor: str | None) -> bytes:
        floors.append(floor)
        return b"page"

    def request() -> bytes:
        limit = limiter.limit_for("ListProducts")
        assert limit is not None
        admission = Admission(limiter, "ListProducts", "client-a", limit)
        return cache.get_or_compute_at("q=mango", compute, admission)

    assert request() == b"page"  # the first call also loads the script into Redis
    log.reset()
    assert request() == b"page"
    assert log.sent == ["EVALSHA"]  # the limit check and the generation's floor together
    assert floors == ["0-1-42", "0-1-42"]  # each read reflects the last write's position
    assert request() == b"page"
    with pytest.raises(RateLimited, match="rate limit of 3 requests exceeded"):
        request()
    assert len(floors) == 3  # the rejected call computed nothing


def test_a_read_that_is_not_cached_is_admitted_and_gets_its_floor_in_one_round_trip(redis_client) -> None:
    """GetProduct (the cache on): its rate-limit check rides on the floor's round trip too."""
    log = CommandLog(redis_client)
    client = log.client
    cache = ResponseCache(client, CacheSettings("t_get", enabled=True))
    cache.bump_generation("0-1-7")
    limiter = RateLimiter(client, {"GetProduct": Limit(2, 60)})

    def admission() -> Admission:
        limit = limiter.limit_for("GetProduct")
        assert limit is not None
        return Admission(limiter, "GetProduct", "client-b", limit)

    assert cache.read_floor(admission()) == "0-1-7"  # also loads the script
    log.reset()
    checked = admission()
    assert cache.read_floor(checked) == "0-1-7"
    assert log.sent == ["EVALSHA"] and checked.done and checked.decision is not None
    assert checked.decision.remaining == 0
    with pytest.raises(RateLimited, match="rate limit of 2 requests exceeded"):
        cache.read_floor(admission())
    assert cache.read_floor() == "0-1-7", "without an admission: the floor alone"
