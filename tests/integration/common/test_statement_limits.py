"""Engines from make_engine against a real MariaDB: statements stop at their limit (and nothing keeps
running on the server), the limit follows the served call's deadline, bulk inserts stay one statement,
and the bulkhead bounds serving threads only."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from farmlokal_common import request_context
from farmlokal_common.bulkhead import Bulkhead
from farmlokal_common.db import make_engine
from farmlokal_common.dependency_errors import QUERY_TOO_SLOW, as_unavailable
from farmlokal_common.errors import Unavailable
from farmlokal_common.settings import ServiceSettings
from tests.conftest import MariaDB

T = TypeVar("T")
TABLE = "statement_limit_probe"
RPC = "/farmlokal.test.v1.Probe/Read"


def in_call(work: Callable[[], T], deadline_seconds: float) -> T:
    """Runs work as a served call with `deadline_seconds` left would (request_context bound)."""
    deadline = time.monotonic() + deadline_seconds
    token = request_context.bind("test", RPC, lambda: max(0.0, deadline - time.monotonic()))
    try:
        return work()
    finally:
        request_context.unbind(token)


def statement_timeouts(rpc: str) -> float:
    return REGISTRY.get_sample_value("farmlokal_db_statement_timeouts_total", {"method": rpc}) or 0.0


@pytest.fixture(scope="module")
def admin(mariadb: MariaDB) -> Iterator[Engine]:
    engine = create_engine(mariadb.root_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS catalog.{TABLE} (id INT PRIMARY KEY, v INT)"))
        conn.execute(text(f"INSERT IGNORE INTO catalog.{TABLE} VALUES (1, 1)"))
    yield engine
    engine.dispose()


@pytest.fixture
def reads(mariadb: MariaDB) -> Iterator[Engine]:
    engine = make_engine(mariadb.service_url("catalog"), ServiceSettings(), read_only=True)
    yield engine
    engine.dispose()


def running_statements(admin: Engine, marker: str) -> list[str]:
    with admin.connect() as conn:
        rows = conn.execute(text("SHOW FULL PROCESSLIST")).fetchall()
    return [row.Info for row in rows if row.Info and marker in row.Info and "PROCESSLIST" not in row.Info]


def test_a_select_waiting_on_a_table_lock_stops_at_its_calls_deadline(admin: Engine, reads: Engine) -> None:
    before = statement_timeouts(RPC)
    with admin.connect() as locker:
        locker.execute(text(f"LOCK TABLES catalog.{TABLE} WRITE"))
        try:
            started = time.monotonic()
            with pytest.raises(DBAPIError) as raised:
                in_call(lambda: _read(reads, "lock-wait"), deadline_seconds=1.0)
            stopped_after = time.monotonic() - started
            _wait_until_gone(admin, "lock-wait", within=1.0)
        finally:
            locker.execute(text("UNLOCK TABLES"))
    # The call had 1 s: its statement got 0.8 s (the margin keeps time to answer), not the ceiling.
    assert 0.7 <= stopped_after < 1.0
    outage = as_unavailable(raised.value)
    assert isinstance(outage, Unavailable) and outage.message == QUERY_TOO_SLOW
    assert statement_timeouts(RPC) == before + 1


def test_a_slow_read_without_a_deadline_stops_at_the_read_ceiling(reads: Engine) -> None:
    ceiling = ServiceSettings().db_read_statement_limit_seconds
    started = time.monotonic()
    with pytest.raises(DBAPIError):
        in_call(lambda: _sleep(reads, 5), deadline_seconds=9.2e18)
    assert ceiling <= time.monotonic() - started < ceiling + 0.4


def test_background_work_gets_the_worker_ceiling(mariadb: MariaDB) -> None:
    settings = ServiceSettings(db_worker_statement_limit_seconds=0.5, db_write_statement_limit_seconds=0.3)
    engine = make_engine(mariadb.service_url("catalog"), settings)
    try:
        started = time.monotonic()
        with pytest.raises(DBAPIError):
            _sleep(engine, 5)  # no call bound: a worker's statement
        assert 0.5 <= time.monotonic() - started < 0.9
    finally:
        engine.dispose()


def test_a_bulk_insert_stays_one_statement_and_its_session_limit_is_reset(mariadb: MariaDB) -> None:
    engine = make_engine(mariadb.service_url("catalog"), ServiceSettings(), isolation_level="READ COMMITTED")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE bulk_probe (a INT)"))
            inserts_before = _status(conn, "Com_insert")
            in_call(
                lambda: conn.execute(
                    text("INSERT INTO bulk_probe (a) VALUES (:a)"), [{"a": i} for i in range(500)]
                ),
                deadline_seconds=3.0,
            )
            assert _status(conn, "Com_insert") - inserts_before == 1  # one multi-row INSERT
            assert 2.5 <= _session_limit(conn) <= 2.8  # what was left of the call's 3 s, minus the margin
        with engine.connect() as conn:  # the same pooled connection, back from the pool
            assert _session_limit(conn) == 0.0
    finally:
        engine.dispose()


def test_the_bulkhead_turns_serving_threads_beyond_its_slots_away_at_once(mariadb: MariaDB) -> None:
    bulkhead = Bulkhead(2, wait_seconds=0.05)
    engine = make_engine(mariadb.service_url("catalog"), ServiceSettings(), read_only=True, bulkhead=bulkhead)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        started = time.monotonic()
        try:
            in_call(lambda: _sleep(engine, 0.5), deadline_seconds=3.0)
            outcome = "ok"
        except Unavailable:
            outcome = f"503 after {time.monotonic() - started:.2f}"
        with lock:
            outcomes.append(outcome)

    def background() -> None:
        _sleep(engine, 0.5)
        with lock:
            outcomes.append("background ok")

    threads = [threading.Thread(target=call) for _ in range(5)] + [threading.Thread(target=background)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        engine.dispose()
    assert outcomes.count("ok") == 2 and outcomes.count("background ok") == 1
    turned_away = [o for o in outcomes if o.startswith("503")]
    assert len(turned_away) == 3
    assert all(float(re.findall(r"[\d.]+", o)[-1]) < 0.3 for o in turned_away), outcomes


def _wait_until_gone(admin: Engine, marker: str, within: float) -> None:
    deadline = time.monotonic() + within
    while running_statements(admin, marker):
        assert time.monotonic() < deadline, f"still running {within} s after its caller was answered"
        time.sleep(0.05)


def _read(engine: Engine, marker: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT v /* {marker} */ FROM {TABLE} WHERE id = 1")).fetchall()


def _sleep(engine: Engine, seconds: float) -> object:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT SLEEP({seconds})")).fetchall()


def _status(conn: object, name: str) -> int:
    row = conn.execute(text(f"SHOW SESSION STATUS LIKE '{name}'")).one()  # type: ignore[attr-defined]
    return int(row[1])


def _session_limit(conn: object) -> float:
    row = conn.execute(text("SHOW SESSION VARIABLES LIKE 'max_statement_time'")).one()  # type: ignore[attr-defined]
    return float(row[1])
