"""Statement limits: the limit follows the served call's deadline within bounds, and the SQL carries it."""

from __future__ import annotations

import pytest

from farmlokal_common import request_context
from farmlokal_common.db import statement_limits
from farmlokal_common.settings import ServiceSettings
from farmlokal_common.statement_limits import StatementLimits, with_limit

LIMITS = StatementLimits(in_call=2.5, background=30.0, floor=0.1, margin=0.2)
NO_DEADLINE = 9.2e18  # what grpc reports for a call without one


def seconds_in_call(remaining: float) -> float:
    token = request_context.bind("r", "/s/M", lambda: remaining)
    try:
        return LIMITS.seconds()
    finally:
        request_context.unbind(token)


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [(2.0, 1.8), (10.0, 2.5), (0.25, 0.1), (0.0, 0.1), (NO_DEADLINE, 2.5)],
    ids=["deadline-minus-margin", "ceiling", "floor", "deadline-passed", "no-deadline"],
)
def test_a_call_gets_what_is_left_of_its_deadline_within_floor_and_ceiling(
    remaining: float, expected: float
) -> None:
    assert seconds_in_call(remaining) == pytest.approx(expected)


def test_background_work_gets_its_own_ceiling() -> None:
    assert LIMITS.seconds() == 30.0


def test_socket_timeouts_sit_above_every_limit_of_their_engine() -> None:
    settings = ServiceSettings()
    reads, writes = statement_limits(settings, read_only=True), statement_limits(settings, read_only=False)
    assert reads.socket_timeout_seconds() > max(reads.in_call, reads.background)
    assert writes.socket_timeout_seconds() > max(writes.in_call, writes.background)
    # A stalled server costs a read its socket timeout: that must end before the edge's 3 s route
    # timeout, so the client gets this service's 503, not the edge's 504.
    assert reads.socket_timeout_seconds() < 3
    assert settings.db_connect_timeout_seconds < 3


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT id FROM products", "SET STATEMENT max_statement_time=1.250 FOR SELECT id FROM products"),
        ("\n  UPDATE t SET a = 1", "SET STATEMENT max_statement_time=1.250 FOR UPDATE t SET a = 1"),
        ("insert into t values (1)", "SET STATEMENT max_statement_time=1.250 FOR insert into t values (1)"),
        ("DELETE FROM t", "SET STATEMENT max_statement_time=1.250 FOR DELETE FROM t"),
        (
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SET STATEMENT max_statement_time=1.250 FOR WITH x AS (SELECT 1) SELECT * FROM x",
        ),
        ("SHOW VARIABLES LIKE 'sql_mode'", "SHOW VARIABLES LIKE 'sql_mode'"),
        ("SET SESSION x = 1", "SET SESSION x = 1"),
    ],
)
def test_mariadb_statements_carry_max_statement_time(statement: str, expected: str) -> None:
    assert with_limit(statement, 1.25, mariadb=True) == expected


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT id FROM products", "SELECT /*+ MAX_EXECUTION_TIME(1250) */ id FROM products"),
        ("select 1", "SELECT /*+ MAX_EXECUTION_TIME(1250) */ 1"),
        ("UPDATE t SET a = 1", "UPDATE t SET a = 1"),  # MySQL can limit SELECTs only
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ],
)
def test_mysql_selects_carry_the_max_execution_time_hint(statement: str, expected: str) -> None:
    assert with_limit(statement, 1.25, mariadb=False) == expected


def test_mysql_limits_are_at_least_a_millisecond() -> None:
    assert "MAX_EXECUTION_TIME(1)" in with_limit("SELECT 1", 0.0001, mariadb=False)
