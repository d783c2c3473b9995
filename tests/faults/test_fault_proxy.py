"""The fault proxy against a local echo server: pass-through, latency, reset, blackhole, recovery."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from devstack.fault_proxy import FaultProxy, Mode
from devstack.processes import free_port


class EchoServer:
    """Echoes every chunk back; counts the connections it accepted."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo.port) as fault_proxy:
        yield fault_proxy


def connect(proxy: FaultProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the proxy")
        received += chunk
    return received


def test_pass_through_forwards_both_ways_and_counts_bytes(proxy: FaultProxy, echo: EchoServer) -> None:
    payload = bytes(range(256)) * 1000  # larger than one chunk
    with connect(proxy) as sock:
        assert round_trip(sock, payload) == payload
        assert round_trip(sock, b"again") == b"again"
    deadline = time.monotonic() + 2  # the counters move just after the bytes go out
    while proxy.stats().bytes_down < len(payload) + 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = proxy.stats()
    assert (stats.accepted, stats.refused) == (1, 0)
    assert stats.bytes_up == stats.bytes_down == len(payload) + 5
    assert echo.connections == 1


def test_latency_delays_each_answer_without_throttling(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        started = time.monotonic()
        round_trip(sock, b"warm")
        baseline = time.monotonic() - started

        proxy.add_latency(0.2)
        started = time.monotonic()
        assert round_trip(sock, b"slow") == b"slow"
        slow = time.monotonic() - started
        assert 0.19 <= slow < baseline + 0.4

        # Ten requests in flight at once all arrive about 0.2 s later, not 10 x 0.2 s.
        started = time.monotonic()
        for index in range(10):
            sock.sendall(b"%d" % index)
        received = b""
        while len(received) < 10:
            received += sock.recv(100)
        assert time.monotonic() - started < 0.7

        proxy.pass_through()
        started = time.monotonic()
        round_trip(sock, b"fast")
        assert time.monotonic() - started < 0.1


def test_latency_both_ways_doubles_the_round_trip(proxy: FaultProxy) -> None:
    proxy.add_latency(0.1, both_ways=True)
    with connect(proxy) as sock:
        started = time.monotonic()
        round_trip(sock, b"ping")
        assert 0.19 <= time.monotonic() - started < 0.4
    with pytest.raises(ValueError):
        proxy.add_latency(-1)


def test_reset_cuts_open_connections_and_refuses_new_ones(proxy: FaultProxy) -> None:
    with connect(proxy) as open_sock:
        assert round_trip(open_sock, b"before") == b"before"
        proxy.reset()
        assert proxy.mode is Mode.RESET
        with pytest.raises(ConnectionResetError):
            round_trip(open_sock, b"after")
            round_trip(open_sock, b"after")  # the first send may still be buffered locally

    # Reset at connect or at the first read, depending on timing.
    with pytest.raises(ConnectionError), connect(proxy) as new_sock:
        round_trip(new_sock, b"refused")
    deadline = time.monotonic() + 2
    while proxy.stats().open and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = proxy.stats()
    assert stats.refused == 1
    assert stats.open == 0

    proxy.pass_through()
    with connect(proxy) as recovered:
        assert round_trip(recovered, b"back") == b"back"


def test_blackhole_accepts_and_never_answers_until_pass_through(proxy: FaultProxy, echo: EchoServer) -> None:
    with connect(proxy) as open_sock:
        assert round_trip(open_sock, b"before") == b"before"
        proxy.blackhole()
        open_sock.settimeout(0.3)
        open_sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            open_sock.recv(100)

        with connect(proxy, timeout=0.3) as new_sock:  # the TCP connect succeeds: it is accepted
            new_sock.sendall(b"also held")
            with pytest.raises(TimeoutError):
                new_sock.recv(100)
            assert echo.connections == 1  # the held connection never reached the target

            proxy.pass_through()
            new_sock.settimeout(2)
            assert new_sock.recv(100) == b"also held"
        open_sock.settimeout(2)
        assert open_sock.recv(100) == b"held"
    assert echo.connections == 2


def test_reset_releases_blackholed_connections(proxy: FaultProxy) -> None:
    proxy.blackhole()
    with connect(proxy) as sock:
        sock.sendall(b"held")
        time.sleep(0.1)
        proxy.reset()
        sock.settimeout(2)
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


def test_target_down_closes_the_client_connection() -> None:
    with FaultProxy("127.0.0.1", free_port()) as proxy, connect(proxy) as sock:
        assert sock.recv(100) == b""


def test_concurrent_mode_switches_under_traffic_leave_a_working_proxy(proxy: FaultProxy) -> None:
    stop = threading.Event()
    outcomes: list[str] = []

    def client() -> None:
        while not stop.is_set():
            try:
                with connect(proxy, timeout=0.5) as sock:
                    outcomes.append("ok" if round_trip(sock, b"hello") == b"hello" else "bad")
            except OSError:
                outcomes.append("error")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for switch in [proxy.reset, proxy.blackhole, proxy.pass_through, lambda: proxy.add_latency(0.01)] * 5:
        switch()
        time.sleep(0.05)
    proxy.pass_through()
    stop.set()
    for thread in threads:
        thread.join(5)
    assert "bad" not in outcomes  # a fault loses or cuts data, never corrupts it
    assert "ok" in outcomes and "error" in outcomes
    with connect(proxy) as sock:
        assert round_trip(sock, b"still works") == b"still works"
