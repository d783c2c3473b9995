"""Translates a dependency being unreachable or too slow (MySQL, Redis) into Unavailable naming it.

A lost or refused database connection is not a bug in the request: the client should see 503
UNAVAILABLE with a clear message and may retry, not 500 INTERNAL. So is a statement the server
stopped at its time limit (farmlokal_common.statement_limits). Only those are translated; a bad
query, a constraint violation or a deadlock stays what it is.
"""

from __future__ import annotations

import redis
from sqlalchemy import exc as sa_exc

from farmlokal_common.errors import Unavailable

DATABASE_UNAVAILABLE = "the database (MySQL) is unavailable; retry shortly"
DATABASE_BUSY = "the database (MySQL) has no free connection; retry shortly"
QUERY_TOO_SLOW = "the database query took too long and was stopped; retry later"
REDIS_UNAVAILABLE = "Redis is unavailable; retry shortly"

# The server stopped the statement at its limit: MariaDB max_statement_time, MySQL MAX_EXECUTION_TIME.
STATEMENT_TIMEOUT_CODES = frozenset({1969, 3024})

# MySQL/MariaDB client and server codes that mean "no usable connection to the server".
CONNECTION_ERROR_CODES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1927,  # connection was killed
        2002,  # can't connect through the socket
        2003,  # can't connect to the server (refused, unreachable, connect timeout)
        2005,  # unknown server host
        2006,  # server has gone away
        2013,  # lost connection during a query (reset, read timeout)
        2026,  # TLS connection error
        2055,  # lost connection at a system call
    }
)


def as_unavailable(error: BaseException) -> Unavailable | None:
    """The Unavailable a client should see for error, or None when it is not a dependency outage."""
    if isinstance(error, sa_exc.DBAPIError):
        code = mysql_code(error.orig)
        if error.connection_invalidated or code in CONNECTION_ERROR_CODES:
            return Unavailable(DATABASE_UNAVAILABLE)
        if code in STATEMENT_TIMEOUT_CODES:
            return Unavailable(QUERY_TOO_SLOW)
        return None
    if isinstance(error, sa_exc.TimeoutError):  # the pool's checkout wait ran out
        return Unavailable(DATABASE_BUSY)
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        return Unavailable(REDIS_UNAVAILABLE)
    return None


def mysql_code(original: BaseException | None) -> int | None:
    """The MySQL/MariaDB error number of a DBAPI exception, if it carries one."""
    args = getattr(original, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
