"""Prometheus metrics shared by every service (each process serves them on its metrics port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPC_LATENCY = Histogram(
    "farmlokal_rpc_duration_seconds",
    "Server-side RPC latency",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMIT_REJECTIONS = Counter(
    "farmlokal_rate_limit_rejections_total", "Requests rejected by the rate limiter", ["route"]
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "farmlokal_rate_limit_fail_open_total", "Requests let through because Redis was unreachable"
)
DB_STATEMENT_TIMEOUTS = Counter(
    "farmlokal_db_statement_timeouts_total",
    "Database statements stopped by their time limit, by the RPC that ran them ('' for background work)",
    ["method"],
)
DB_BULKHEAD_REJECTIONS = Counter(
    "farmlokal_db_bulkhead_rejections_total",
    "Calls answered 503 because the serving threads allowed in the database were all there",
)
CACHE_EVENTS = Counter(
    "farmlokal_cache_events_total", "Response cache lookups by outcome", ["cache", "outcome"]
)
HTTP_CLIENT_ATTEMPTS = Counter(
    "farmlokal_http_client_attempts_total",
    "Outbound HTTP attempts by upstream and outcome (ok, client_error, rate_limited, server_error,"
    " timeout, connection_error, breaker_open)",
    ["upstream", "outcome"],
)
HTTP_CLIENT_RETRIES = Counter(
    "farmlokal_http_client_retries_total",
    "Outbound HTTP retries by upstream and cause",
    ["upstream", "reason"],
)
HTTP_CLIENT_LATENCY = Histogram(
    "farmlokal_http_client_duration_seconds",
    "Latency of one outbound HTTP attempt",
    ["upstream", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
BREAKER_STATE = Gauge(
    "farmlokal_circuit_breaker_state",
    "1 for the state the upstream's breaker is in as this process last saw it, 0 for the others",
    ["upstream", "state"],
)
BREAKER_TRANSITIONS = Counter(
    "farmlokal_circuit_breaker_transitions_total",
    "Breaker state changes seen by this process (made here or noticed in the shared state)",
    ["upstream", "from_state", "to_state"],
)
DEPENDENCY_UP = Gauge(
    "farmlokal_dependency_up",
    "1 when the service's last health check of the dependency (mysql, redis) passed, else 0",
    ["dependency"],
)
DB_REPLICA_LAG = Gauge(
    "farmlokal_db_replica_lag_seconds",
    "How far the read replica behind the pool is behind its primary (age of the oldest transaction it"
    " has not applied, 0 when caught up; growing while it is unreachable), as this process last saw it",
    ["pool"],
)
DB_READS = Counter(
    "farmlokal_db_reads_total",
    "Reads by where they ran: replica, replica_after_wait (after waiting for the read's floor), or"
    " primary_* with the reason (replica_down, replica_lagging, wait_timeout, replica_behind: a floor"
    " it already failed to reach, floor_unknown; primary: no replica)",
    ["pool", "route"],
)
BACKGROUND_RESTARTS = Counter(
    "farmlokal_background_task_restarts_total",
    "Background tasks (outbox relay, event workers, replica monitor...) that raised and were started"
    " again after a back-off",
    ["task"],
)
