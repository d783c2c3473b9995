"""Prometheus metrics shared by every service (each process serves them on its metrics port)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
CACHE_EVENTS = Counter(
    "farmlokal_cache_events_total", "Response cache lookups by outcome", ["cache", "outcome"]
)
