"""Response headers sent with the response (farmlokal_common/initial_metadata.py), on a real grpc server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc import _server

from farmlokal_common import initial_metadata

HEADERS = (("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "99"), ("x-ratelimit-reset", "1"))
METHOD = "/test.Echo/Call"


def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request != b"plain":
        initial_metadata.send_with_response(context, HEADERS)
    if request == b"fail":
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no")
    return b"answer:" + request


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(2))
    identity = lambda b: b  # noqa: E731
    method = grpc.unary_unary_rpc_method_handler(
        handler, request_deserializer=identity, response_serializer=identity
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", {"Call": method}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(None)


def call(channel: grpc.Channel, request: bytes) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    stub = channel.unary_unary(METHOD)
    response, state = stub.with_call(request)
    return response, tuple((m.key, m.value) for m in state.initial_metadata())


def test_the_hook_is_in_grpcs_server() -> None:
    """Fails when a grpcio upgrade changed what the hook relies on: it would fall back silently to a
    batch of its own per call (measured 0.05-0.1 ms of CPU a call)."""
    assert initial_metadata.HOOKED
    assert _server._get_initial_metadata is initial_metadata._get_initial_metadata


def test_headers_arrive_as_initial_metadata_with_the_response(channel: grpc.Channel) -> None:
    for n in range(3):  # and nothing of a call is left for the next one
        assert call(channel, f"q{n}".encode()) == (f"answer:q{n}".encode(), HEADERS)


def test_a_call_that_adds_none_gets_none(channel: grpc.Channel) -> None:
    assert call(channel, b"a")[1] == HEADERS
    assert call(channel, b"plain") == (b"answer:plain", ())
    assert call(channel, b"b")[1] == HEADERS


def test_an_error_after_them_still_ends_the_call(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, b"fail")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_without_the_hook_they_go_in_a_batch_of_their_own(
    channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(initial_metadata, "HOOKED", False)
    assert call(channel, b"x") == (b"answer:x", HEADERS)
