"""PerMethodChain refuses a streaming method of ours (it would skip error mapping, logging and limits)
and lets grpc's own streaming services through."""

from __future__ import annotations

import contextvars
from typing import Any

import grpc
import pytest

from farmlokal_common.interceptors import PerMethodChain as _Chain
from farmlokal_common.interceptors import StreamingNotSupported


class PerMethodChain(_Chain):
    """Each call in a fresh context, as grpc gives each call its own: the chain marks the call's
    arrival in it, which must not leak into the tests that run after these."""

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        return contextvars.copy_context().run(super().intercept_service, continuation, details)


def _details(method: str) -> grpc.HandlerCallDetails:
    class Details(grpc.HandlerCallDetails):
        def __init__(self) -> None:
            self.method = method
            self.invocation_metadata = ()

    return Details()


def _streaming() -> grpc.RpcMethodHandler:
    return grpc.unary_stream_rpc_method_handler(lambda request, context: iter(()))


def test_a_streaming_method_of_ours_is_refused() -> None:
    chain = PerMethodChain([])
    with pytest.raises(StreamingNotSupported, match=r"farmlokal\.catalog\.v1\.CatalogService/Watch"):
        chain.intercept_service(
            lambda d: _streaming(), _details("/farmlokal.catalog.v1.CatalogService/Watch")
        )


def test_grpc_health_watch_passes_through() -> None:
    handler = _streaming()
    chain = PerMethodChain([])
    assert chain.intercept_service(lambda d: handler, _details("/grpc.health.v1.Health/Watch")) is handler


def test_a_unary_method_is_built_once_and_reused() -> None:
    calls = []

    def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        calls.append(details.method)
        return grpc.unary_unary_rpc_method_handler(lambda request, context: request)

    chain = PerMethodChain([])
    first = chain.intercept_service(continuation, _details("/x.Y/Z"))
    assert chain.intercept_service(continuation, _details("/x.Y/Z")) is first
    assert len(calls) == 2  # the streaming check and the build, both once
