"""Class: a client that holds the edge's resources (huge headers, slow or silent connections,
tunnels) or learns something from the refusal.

Each limit is the edge's (farmlokal_edge.config): one request or connection is refused or closed within a
few seconds with a JSON error that names nothing of the request, and other clients are served.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from farmlokal_edge import config as edge_config
from tests.e2e.conftest import Edge


def _seconds(text: str) -> float:
    return float(text.removesuffix("s"))


@pytest.mark.parametrize("size", [17_000, 40_000, 60_000])
def test_oversized_header_is_431_json_naming_nothing(client: httpx.Client, size: int) -> None:
    response = client.get("/v1/products/1", headers={"x-secret-looking-name": "a" * size})
    assert response.status_code == 431
    body = response.json()
    assert body["code"] == 3
    assert f"{edge_config.MAX_REQUEST_HEADERS_KB} KiB" in body["message"]
    assert "x-secret-looking-name" not in response.text and "aaaa" not in response.text
    assert client.get("/v1/products/1").status_code == 200  # the next request on a new connection


def test_headers_within_the_limit_are_served(client: httpx.Client) -> None:
    assert client.get("/v1/products/1", headers={"x-big": "a" * 12_000}).status_code == 200


def test_header_with_underscore_is_dropped_not_fatal(client: httpx.Client) -> None:
    assert client.get("/v1/products/1", headers={"x_forwarded_for": "10.0.0.1"}).status_code == 200


def test_connect_is_refused_at_once(hostile_edge: Edge) -> None:
    status, elapsed, body = _raw(
        hostile_edge, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    )
    assert status == b"HTTP/1.1 405 Method Not Allowed"
    assert elapsed < 2.0  # the 405 at once; Envoy closes the connection after its 1 s delayed close
    assert b"CONNECT is not supported" in body


def _raw(edge: Edge, data: bytes, wait: float = 5.0) -> tuple[bytes, float, bytes]:
    """Sends `data` and reads until the edge answers or closes: (status line, seconds, rest)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", edge.listen_port), timeout=wait) as sock:
        if data:
            sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return b"<still open>", time.monotonic() - started, received
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
                break
    head, _, rest = received.partition(b"\r\n")
    return head, time.monotonic() - started, rest


SLOW_CASES: dict[str, tuple[bytes, str, bytes]] = {
    # name: (what the client sends, the timeout that must end it, the status line, b"" = closed)
    "sends nothing": (b"", edge_config.IDLE_TIMEOUT, b""),
    "headers never finish": (
        b"GET /v1/products/1 HTTP/1.1\r\nHost: x\r\n",
        edge_config.REQUEST_HEADERS_TIMEOUT,
        b"HTTP/1.1 408 Request Timeout",
    ),
    "body never finishes": (
        b"POST /v1/webhooks/supplier HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{",
        edge_config.REQUEST_TIMEOUT,
        b"HTTP/1.1 408 Request Timeout",
    ),
}


def test_slow_and_silent_connections_are_closed_within_their_timeouts(hostile_edge: Edge) -> None:
    """All cases at once (the test takes as long as the longest timeout, not their sum), while an
    honest client keeps being served."""
    results: dict[str, tuple[bytes, float, bytes]] = {}

    def run(name: str, data: bytes, limit: float) -> Callable[[], None]:
        return lambda: results.__setitem__(name, _raw(hostile_edge, data, wait=limit + 3))

    threads = [
        threading.Thread(target=run(name, data, _seconds(limit)))
        for name, (data, limit, _) in SLOW_CASES.items()
    ]
    for thread in threads:
        thread.start()
    with hostile_edge.client() as honest:
        while any(t.is_alive() for t in threads):
            assert honest.get("/v1/products/2").status_code == 200
            time.sleep(0.5)
    for name, (_, limit, expected) in SLOW_CASES.items():
        status, elapsed, _ = results[name]
        assert status == expected, name
        assert _seconds(limit) - 0.5 <= elapsed <= _seconds(limit) + 2, (name, elapsed)
