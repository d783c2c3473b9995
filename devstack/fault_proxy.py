"""A TCP fault proxy for tests: forwards to a target and can add latency, reset or blackhole on demand.

A stand-in for toxiproxy, in the standard library only. Put it between a service and MySQL or Redis
(point the service's URL at `proxy.port`) and switch modes at run time from the test's thread:

    with FaultProxy("127.0.0.1", mariadb_port) as proxy:
        proxy.add_latency(0.1)   # every answer from the target arrives 100 ms later
        proxy.reset()            # open connections are closed with RST; new ones are refused the same way
        proxy.blackhole()        # connections are accepted and held, nothing is forwarded or answered
        proxy.pass_through()     # normal again (held and new connections forward; latency 0)

Modes change the behaviour of existing connections too: a connection opened in pass-through is cut
by reset() and goes silent under blackhole(). Every method is thread-safe.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

CHUNK = 64 * 1024
_POLL = 0.05  # how often waiting threads look at the mode


class Mode(Enum):
    PASS = "pass"
    RESET = "reset"
    BLACKHOLE = "blackhole"


@dataclass(frozen=True)
class ProxyStats:
    accepted: int
    refused: int
    open: int
    bytes_up: int
    bytes_down: int


class FaultProxy:
    """Listens on 127.0.0.1:<free port> and forwards each connection to target_host:target_port."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._mode = Mode.PASS
        self._latency = 0.0
        self._latency_both_ways = False
        self._changed = threading.Condition(self._lock)
        self._connections: set[socket.socket] = set()
        self._accepted = self._refused = self._bytes_up = self._bytes_down = 0
        self._stopping = threading.Event()
        self._listener = socket.create_server((listen_host, 0))
        self._listener.settimeout(_POLL)
        self.host, self.port = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def mode(self) -> Mode:
        with self._lock:
            return self._mode

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(
                self._accepted, self._refused, len(self._connections), self._bytes_up, self._bytes_down
            )

    def pass_through(self) -> None:
        self._set(Mode.PASS, latency=0.0)

    def add_latency(self, seconds: float, both_ways: bool = False) -> None:
        """Every chunk from the target reaches the client `seconds` after it arrived (pipelined, not
        throttled), so one request/response round trip gains `seconds`; both_ways delays requests too."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._set(Mode.PASS, latency=seconds, both_ways=both_ways)

    def reset(self) -> None:
        """Closes every open connection abruptly (RST) and answers new ones the same way."""
        self._set(Mode.RESET)
        with self._lock:
            victims = list(self._connections)
        for sock in victims:
            _shutdown(sock, Mode.RESET)

    def blackhole(self) -> None:
        """Accepts connections and holds them; nothing is forwarded or answered until pass_through()."""
        self._set(Mode.BLACKHOLE)

    def close(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
            victims = list(self._connections)
        for sock in victims:
            _shutdown(sock, Mode.RESET)
        self._listener.close()
        self._acceptor.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _set(self, mode: Mode, latency: float | None = None, both_ways: bool = False) -> None:
        with self._changed:
            self._mode = mode
            if latency is not None:
                self._latency = latency
                self._latency_both_ways = both_ways
            self._changed.notify_all()

    def _delay(self, upward: bool) -> float:
        with self._lock:
            return self._latency if (not upward or self._latency_both_ways) else 0.0

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self._mode
                self._accepted += 1
                if mode is Mode.RESET:
                    self._refused += 1
            if mode is Mode.RESET:
                _abort(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(None)
        self._track(client)
        upstream: socket.socket | None = None
        try:
            if not self._wait_while_blackholed():
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                return  # the target is down: the client sees its connection closed, as with a dead server
            upstream.settimeout(None)
            self._track(upstream)
            down = threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True)
            down.start()
            self._pipe(client, upstream, True)
            down.join()
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    self._untrack(sock)
                    if self.mode is Mode.RESET:
                        _abort(sock)
                    else:
                        _close(sock)

    def _pipe(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        """source → sink: this thread reads, a writer delivers each chunk `latency` after it arrived
        (so latency delays without throttling), holding chunks while the proxy is a blackhole."""
        chunks: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        writer = threading.Thread(target=self._deliver, args=(chunks, sink, upward), daemon=True)
        writer.start()
        while not self._stopping.is_set():
            try:
                data = source.recv(CHUNK)
            except OSError:
                break
            if not data or self.mode is Mode.RESET:
                break
            chunks.put((time.monotonic(), data))
        chunks.put(None)
        writer.join()
        _shutdown(source, self.mode)

    def _deliver(
        self, chunks: queue.SimpleQueue[tuple[float, bytes] | None], sink: socket.socket, upward: bool
    ) -> None:
        while (item := chunks.get()) is not None:
            received, data = item
            if not self._wait_while_blackholed():
                break
            delay = received + self._delay(upward) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not self._wait_while_blackholed():
                break
            try:
                sink.sendall(data)
            except OSError:
                break
            with self._lock:
                if upward:
                    self._bytes_up += len(data)
                else:
                    self._bytes_down += len(data)
        _shutdown(sink, self.mode)

    def _wait_while_blackholed(self) -> bool:
        """Holds the caller while the proxy is a blackhole; False if it must drop the connection."""
        with self._changed:
            while self._mode is Mode.BLACKHOLE and not self._stopping.is_set():
                self._changed.wait(_POLL)
            return self._mode is Mode.PASS and not self._stopping.is_set()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)


def _shutdown(sock: socket.socket, mode: Mode) -> None:
    """Wakes every thread blocked on sock without freeing its descriptor (close stays with _serve).
    Under RESET nothing is sent now (SHUT_RD); the RST goes out when _serve aborts the socket."""
    with contextlib.suppress(OSError):
        if mode is Mode.RESET:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)
        else:
            sock.shutdown(socket.SHUT_RDWR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _abort(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN: the peer sees 'connection reset'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
