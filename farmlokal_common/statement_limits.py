"""Every statement an engine runs gets a server-side time limit, from the deadline of the call it serves.

When a client gives up, the database should stop too: a socket timeout only stops the client's wait,
the statement keeps running on the server. So each statement carries its own limit, which the server
enforces (MariaDB `SET STATEMENT max_statement_time=… FOR …`; MySQL 8 `/*+ MAX_EXECUTION_TIME(ms) */`,
SELECTs only, the one kind MySQL can limit). The limit is what is left of the served call's deadline
minus a margin (so the 503 still reaches the caller), within [floor, the engine's ceiling]; a call
without a deadline gets the ceiling, and background work (no call) its own ceiling.

A stopped statement is MariaDB error 1969 or MySQL 3024: `dependency_errors` answers it 503 and the
`handle_error` hook counts it by RPC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

from farmlokal_common import request_context
from farmlokal_common.dependency_errors import STATEMENT_TIMEOUT_CODES, mysql_code
from farmlokal_common.metrics import DB_STATEMENT_TIMEOUTS

_LIMITED_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")
_SESSION_LIMIT_SET = "farmlokal_session_statement_limit"
# Room for the server to notice its limit and answer before the socket timeout gives up instead.
SOCKET_SLACK_SECONDS = 0.5


@dataclass(frozen=True)
class StatementLimits:
    """Seconds: `in_call` is the engine's ceiling while serving a call, `background` without one."""

    in_call: float
    background: float
    floor: float
    margin: float

    def seconds(self) -> float:
        if not request_context.serving():
            return self.background
        remaining = request_context.time_remaining()
        if remaining is None:
            return self.in_call
        return min(max(remaining - self.margin, self.floor), self.in_call)

    def socket_timeout_seconds(self) -> int:
        """A whole-second socket read timeout above every limit (mysqlclient takes whole seconds)."""
        return math.ceil(max(self.in_call, self.background) + SOCKET_SLACK_SECONDS)


def with_limit(statement: str, seconds: float, mariadb: bool) -> str:
    """The statement carrying its time limit; statements the server cannot limit are left alone."""
    stripped = statement if statement[:1].isalpha() else statement.lstrip()
    verb = stripped[:7].upper()
    if mariadb:
        if verb.startswith(_LIMITED_VERBS):
            return f"SET STATEMENT max_statement_time={seconds:.3f} FOR {stripped}"
        return statement
    if verb.startswith("SELECT"):
        return f"SELECT /*+ MAX_EXECUTION_TIME({max(1, round(seconds * 1000))}) */{stripped[6:]}"
    return statement


def _is_multirow_insert(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(("INSERT", "REPLACE"))


def install(engine: Engine, limits: StatementLimits) -> None:
    """Limits every statement `engine` runs from now on."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def limit(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        seconds = limits.seconds()
        mariadb: bool = getattr(conn.dialect, "is_mariadb", False)  # set once per engine, at connect
        if executemany and mariadb and _is_multirow_insert(statement):
            # mysqlclient sends an executemany INSERT as one multi-row INSERT only when the text
            # starts with INSERT/REPLACE, so this one gets the limit for the session instead; it
            # is reset when the connection returns to the pool.
            cursor.execute(f"SET @@session.max_statement_time={seconds:.3f}")
            conn.info[_SESSION_LIMIT_SET] = True
            return statement, parameters
        return with_limit(statement, seconds, mariadb), parameters

    @event.listens_for(engine, "checkin")
    def reset_session_limit(dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        if not entry.info.pop(_SESSION_LIMIT_SET, False) or dbapi_connection is None:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET @@session.max_statement_time=DEFAULT")
            cursor.close()
        except Exception as error:  # a connection that cannot be reset is not reused
            entry.invalidate(error)

    @event.listens_for(engine, "handle_error")
    def count_stopped(context: ExceptionContext) -> None:
        if mysql_code(context.original_exception) in STATEMENT_TIMEOUT_CODES:
            DB_STATEMENT_TIMEOUTS.labels(request_context.current_rpc()).inc()
