"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

# Dev defaults: the ports `make up` uses. Non-standard MariaDB/Redis ports keep the dev stack
# clear of system services that apt may have started on 3306/6379.
DEV_MARIADB_PORT = 13306
DEV_REDIS_PORT = 16379
DEV_SANDBOX_PORT = 18090


class ServiceSettings(BaseSettings):
    """What every gRPC service needs: listen address, process model, MySQL, Redis, logging."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    version: str = "0.1.0"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    metrics_port: int = 0
    workers: int = 1
    # With several workers, worker i also listens on worker_port_base + i (0: off). SO_REUSEPORT spreads
    # connections, not requests, and the edge holds a few long-lived HTTP/2 connections: measured, both
    # could land on one worker for a whole run. The edge lists these ports as one endpoint per worker.
    worker_port_base: int = 0
    # Threads serving calls per process. Few, because every call holds the GIL for most of its work:
    # on the 2-core box a cached listing served 1,900 req/s with 4 threads, ~1,050 with 8 and 830 with
    # 16 (ghz c=32, runs vary ±40%), and an uncached one gained nothing from more than 4.
    thread_pool_size: int = 8
    # Beyond this many in-flight RPCs grpc answers RESOURCE_EXHAUSTED (a 429 at the edge), so it is
    # set high: overload should queue in the thread pool, and the rate limiter decides on 429s.
    max_concurrent_rpcs: int = 2048
    grace_seconds: float = 10.0
    log_level: str = "INFO"
    # "errors": a log line for each call that failed or took access_log_slow_ms or more; "all": for
    # every call. The edge's access log has a line per external request either way.
    access_log: Literal["all", "errors"] = "errors"
    access_log_slow_ms: float = 250.0

    database_url: str = ""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 5.0
    # Whole seconds (mysqlclient). Also bounds the handshake with a server that accepts but does not
    # answer (stalled): below the edge's 3 s read-route timeout, so such a read is this service's 503.
    db_connect_timeout_seconds: int = 2
    # Time limit of each statement (farmlokal_common/statement_limits.py): what is left of the served
    # call's deadline minus the margin, at least the floor, at most the ceiling of its kind: reads
    # (the read-only engine), writes (the primary engine, in a call), workers (no call). Socket
    # timeouts are derived from them (0.5 s above), so the server stops a slow statement first.
    db_statement_floor_seconds: float = 0.1
    db_statement_margin_seconds: float = 0.2
    db_read_statement_limit_seconds: float = 1.5
    db_write_statement_limit_seconds: float = 5.0
    db_worker_statement_limit_seconds: float = 10.0

    redis_url: str = f"redis://127.0.0.1:{DEV_REDIS_PORT}/0"
    # Sentinel: HOST:PORT of each Sentinel, comma-separated, and the name they know the master by
    # (or a redis+sentinel://HOSTS/MASTER/DB URL). Set, the master comes from them and a failover is
    # followed without a restart (farmlokal_common/redis_client.py); the URL's password and db apply.
    redis_sentinels: str = ""
    redis_master_name: str = ""
    redis_socket_timeout_seconds: float = 0.5

    health_check_interval_seconds: float = 2.0
    # Longest value any string field of a public request may hold (a 400 beyond); services keep
    # their own, tighter limits per field.
    max_text_field_chars: int = 4096
    # Per public route: ROUTE=REQUESTS/SECONDS, comma-separated; "*" is the default for other routes.
    rate_limits: str = "*=100/1"

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"


def dev_database_url(schema: str, port: int = DEV_MARIADB_PORT, host: str = "127.0.0.1") -> str:
    """The dev stack's URL for a service's own user and schema (user and password = schema)."""
    return f"mysql+mysqldb://{schema}_svc:{schema}_dev_pw@{host}:{port}/{schema}?charset=utf8mb4"
