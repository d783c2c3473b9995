"""Replication positions (GTIDs) of MariaDB and MySQL: reading them, comparing them, waiting for one.

A position is the server's own text: MariaDB's `domain-server-seq` list (`0-1-812,1-2-7`), MySQL's
GTID set (`uuid:1-812,uuid2:1-7`). Both are read here as one seq per stream (a MariaDB domain, a
MySQL source uuid): a position covers another when every stream of the other is at least as far.
The Lua merge in farmlokal_common/cache_generation.py reads them the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

_MARIADB_ITEM = re.compile(r"^(\d+)-\d+-(\d+)$")
_MYSQL_ITEM = re.compile(r"^([^:]+):.*?(\d+)$")


def streams(position: str) -> dict[str, int]:
    """'0-1-812,1-2-7' -> {'0': 812, '1': 7}; MySQL 'uuid:1-812' -> {'uuid': 812}."""
    found: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in position.replace("\n", "").split(","))):
        match = _MARIADB_ITEM.match(item) or _MYSQL_ITEM.match(item)
        if match is None:
            raise ValueError(f"not a GTID position: {item!r}")
        stream, seq = match.group(1), int(match.group(2))
        found[stream] = max(seq, found.get(stream, 0))
    return found


def covers(position: str, floor: str) -> bool:
    """True if a server at `position` has applied everything up to `floor`."""
    have = streams(position)
    return all(have.get(stream, 0) >= seq for stream, seq in streams(floor).items())


@dataclass(frozen=True)
class Dialect:
    """The statements of one engine: its own last write, a server's position, the replica's wait."""

    last_write: str  # in the writing session, right after its commit
    primary_position: str
    replica_position: str
    wait: str  # :floor, :timeout -> 0 when reached
    reached: int


MARIADB = Dialect(
    last_write="SELECT @@last_gtid",
    primary_position="SELECT @@gtid_binlog_pos",
    replica_position="SELECT @@gtid_slave_pos",
    wait="SELECT MASTER_GTID_WAIT(:floor, :timeout)",
    reached=0,
)
# MySQL 8 (read from its manual, not run here: our machines have MariaDB only). gtid_executed after
# a commit includes it and everything committed before: a coarser but safe floor.
MYSQL = Dialect(
    last_write="SELECT @@global.gtid_executed",
    primary_position="SELECT @@global.gtid_executed",
    replica_position="SELECT @@global.gtid_executed",
    wait="SELECT WAIT_FOR_EXECUTED_GTID_SET(:floor, :timeout)",
    reached=0,
)


def dialect_of(engine: Engine | Connection) -> Dialect:
    dialect = engine.dialect
    return MARIADB if getattr(dialect, "is_mariadb", False) else MYSQL


def scalar_text(conn: Connection, statement: str) -> str:
    value = conn.execute(text(statement)).scalar()
    return str(value or "")


def last_write(conn: Connection) -> str:
    """The position of the transaction this connection just committed ('' without a binary log)."""
    return scalar_text(conn, dialect_of(conn).last_write)


def primary_position(engine: Engine) -> str:
    """Everything the primary has committed so far: a floor that covers every write that returned."""
    with engine.connect() as conn:
        return scalar_text(conn, dialect_of(engine).primary_position)


def wait_for(conn: Connection, floor: str, timeout_seconds: float) -> bool:
    """Waits on a replica connection until it has applied `floor`, at most timeout_seconds."""
    dialect = dialect_of(conn)
    reached = conn.execute(text(dialect.wait), {"floor": floor, "timeout": timeout_seconds}).scalar()
    return reached == dialect.reached
