"""Where a read runs: on the replica when it is healthy and has applied what the read must reflect,
else on the primary.

A read carries a floor: the replication position it must reflect (the cache generation's, which
covers every write that returned before the read started), or None when nobody can tell (Redis
down) and only the primary is safe. ReadRouter.read:
- no replica, or the ReplicaMonitor finds it unreachable or lagging beyond the limit: the primary;
- the replica was last seen at or past the floor: the replica, at once;
- else the replica, after waiting for the floor at most `wait_seconds` (MASTER_GTID_WAIT), and the
  primary when it does not get there in time; until the monitor sees the replica reach that floor,
  reads needing it (or more) go to the primary without waiting, so a stalled replica costs one wait,
  not one per read (each wait holds a database bulkhead slot);
- a replica connection that breaks (the replica died before the monitor noticed) marks it down and
  the read runs again on the primary: a read only reads, so running it twice is harmless;
- a stale pooled primary connection (MySQL restarted since it was made) runs the read again, once,
  on a fresh connection.
Every read is counted by where it ran and why (farmlokal_db_reads_total{pool, route}).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from farmlokal_common import gtid
from farmlokal_common.db import error_code
from farmlokal_common.errors import Unavailable
from farmlokal_common.metrics import DB_READS, DB_REPLICA_LAG

log = logging.getLogger("farmlokal.read_routing")
T = TypeVar("T")
# Client errors of a connection that broke or could not be made (CR_CONNECTION_ERROR,
# CR_CONN_HOST_ERROR, CR_SERVER_GONE_ERROR, CR_SERVER_LOST) and a server shutting down.
CONNECTION_ERRORS = frozenset({2002, 2003, 2006, 2013, 1053})
# A connection that was made and then lost (CR_SERVER_GONE_ERROR, CR_SERVER_LOST, a server shutting
# down): what a stale pooled connection answers; not a connection that could not be made.
STALE_CONNECTION_ERRORS = frozenset({2006, 2013, 1053})
STALE_FAILURE_SECONDS = (
    0.5  # a stale connection fails on its first packet; a partition takes the socket timeout
)


@dataclass(frozen=True)
class ReplicaSettings:
    max_lag_seconds: float = 5.0
    wait_seconds: float = 0.1
    check_interval_seconds: float = 0.5


@dataclass(frozen=True)
class ReplicaState:
    reachable: bool
    position: str  # the replica's last known position ('' before the first check)
    lag_seconds: float
    checked_at: float  # time.monotonic()


class ReplicaMonitor:
    """Polls both servers' positions; the lag is the age of the oldest transaction the primary had
    committed that the replica has not applied (0 when it has applied everything), measured at the
    polls, so it reads up to one interval low. While the replica is unreachable, the lag keeps growing
    from the last time it answered."""

    def __init__(self, primary: Engine, replica: Engine, settings: ReplicaSettings, pool: str) -> None:
        self._primary = primary
        self._replica = replica
        self._settings = settings
        self.pool = pool
        self._lock = threading.Lock()
        self._pending: deque[tuple[float, str]] = deque()  # (first seen, primary position) not applied
        self._last_answer = time.monotonic()
        self._state = ReplicaState(False, "", 0.0, 0.0)
        self._down_logged = False

    @property
    def state(self) -> ReplicaState:
        return self._state

    def usable(self) -> bool:
        state = self._state
        return state.reachable and state.lag_seconds <= self._settings.max_lag_seconds

    def mark_down(self) -> None:
        """A read found the replica's connection broken: reads go to the primary until the next
        check finds it answering again."""
        with self._lock:
            state = self._state
            self._state = ReplicaState(False, state.position, state.lag_seconds, time.monotonic())

    def check_once(self) -> ReplicaState:
        now = time.monotonic()
        try:
            primary = gtid.primary_position(self._primary)
        except DBAPIError:
            primary = None
        try:
            with self._replica.connect() as conn:
                position: str | None = gtid.scalar_text(conn, gtid.dialect_of(conn).replica_position)
        except DBAPIError:
            position = None
        with self._lock:
            if primary and (not self._pending or self._pending[-1][1] != primary):
                self._pending.append((now, primary))
            known = position if position is not None else self._state.position
            while self._pending and gtid.covers(known, self._pending[0][1]):
                self._pending.popleft()
            if position is not None:
                self._last_answer = now
                lag = now - self._pending[0][0] if self._pending else 0.0
            else:
                oldest = self._pending[0][0] if self._pending else now
                lag = now - min(oldest, self._last_answer)
            self._state = ReplicaState(position is not None, known, lag, now)
        DB_REPLICA_LAG.labels(self.pool).set(round(lag, 3))
        self._log_change(position is not None)
        return self._state

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.check_once()
            except Exception:  # a monitor that dies would leave reads on a replica nobody watches
                log.exception("replica check failed")
            stopping.wait(self._settings.check_interval_seconds)

    def check_health(self) -> None:
        """For /health: raises (degraded, with the lag) when reads do not go to the replica."""
        state = self._state
        if not state.reachable:
            raise Unavailable(
                f"read replica unreachable (lag {state.lag_seconds:.1f} s): reads go to the primary"
            )
        if state.lag_seconds > self._settings.max_lag_seconds:
            raise Unavailable(
                f"read replica lag {state.lag_seconds:.1f} s is beyond "
                f"{self._settings.max_lag_seconds:g} s: reads go to the primary"
            )

    def _log_change(self, reachable: bool) -> None:
        if not reachable and not self._down_logged:
            log.warning("read replica unreachable: reads go to the primary", extra={"pool": self.pool})
        elif reachable and self._down_logged:
            log.info("read replica answering again", extra={"pool": self.pool})
        self._down_logged = not reachable


class ReadRouter:
    def __init__(
        self,
        primary: Engine,
        replica: Engine | None = None,
        monitor: ReplicaMonitor | None = None,
        wait_seconds: float = 0.1,
        pool: str = "primary",
    ) -> None:
        """`primary` is the primary's read-only engine; without `replica` every read runs there."""
        self._primary = primary
        self._replica = replica
        self._monitor = monitor
        self._wait = wait_seconds
        self._pool = monitor.pool if monitor is not None else pool
        self._behind: str | None = None  # a floor the replica did not reach within the wait

    def read(self, floor: str | None, work: Callable[[Connection], T]) -> T:
        """work(conn) on the connection this read may use (see the module's docstring)."""
        if self._replica is None or self._monitor is None:
            return self._on_primary(work, "primary")
        if floor is None:
            return self._on_primary(work, "primary_floor_unknown")
        if not self._monitor.usable():
            reachable = self._monitor.state.reachable
            return self._on_primary(work, "primary_replica_lagging" if reachable else "primary_replica_down")
        covered = not floor or gtid.covers(self._monitor.state.position, floor)
        if not covered and self._known_behind(floor):
            return self._on_primary(work, "primary_replica_behind")
        try:
            with self._replica.connect() as conn:
                reached = covered or gtid.wait_for(conn, floor, self._wait)
                if reached:
                    result = work(conn)
        except DBAPIError as error:
            if error_code(error) not in CONNECTION_ERRORS and not error.connection_invalidated:
                raise
            self._monitor.mark_down()
            return self._on_primary(work, "primary_replica_down")
        if not reached:
            self._behind = floor
            return self._on_primary(work, "primary_wait_timeout")
        DB_READS.labels(self._pool, "replica" if covered else "replica_after_wait").inc()
        return result

    def _known_behind(self, floor: str) -> bool:
        """True while the replica is known not to have reached a floor at or below this one."""
        behind = self._behind
        if behind is None or self._monitor is None:
            return False
        if gtid.covers(self._monitor.state.position, behind):
            self._behind = None
            return False
        return gtid.covers(floor, behind)

    def _on_primary(self, work: Callable[[Connection], T], route: str) -> T:
        DB_READS.labels(self._pool, route).inc()
        started = time.monotonic()
        try:
            with self._primary.connect() as conn:
                return work(conn)
        except DBAPIError as error:
            # Read engines do not ping on checkout (a round trip per read): a pooled connection that
            # went stale (MySQL restarted, or killed it) fails once, at once, and invalidates the
            # pool. A read only reads, so it runs again on a fresh connection rather than answering
            # 503. A connection lost to a socket timeout (a partition) is not tried again: a second
            # wait would outlast the route's deadline.
            stale = time.monotonic() - started < STALE_FAILURE_SECONDS
            if (
                not stale
                or error_code(error) not in STALE_CONNECTION_ERRORS
                or not error.connection_invalidated
            ):
                raise
        with self._primary.connect() as conn:
            return work(conn)
