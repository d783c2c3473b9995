"""Timed probes of dependencies (SQL, Redis, gRPC health, HTTP) for health reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    detail: str = ""


def timed(check: Callable[[], None]) -> ProbeResult:
    """Runs check; any exception is a failure whose detail names its type, never its message."""
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        return ProbeResult(False, _ms(started), type(error).__name__)
    return ProbeResult(True, _ms(started))


def grpc_serving(channel: grpc.Channel, timeout: float = 1.0) -> Callable[[], None]:
    stub = health_pb2_grpc.HealthStub(channel)

    def check() -> None:
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError("not serving")

    return check


def http_ok(client: httpx.Client, url: str) -> Callable[[], None]:
    def check() -> None:
        client.get(url).raise_for_status()

    return check


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
