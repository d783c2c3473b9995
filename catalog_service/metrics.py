"""The catalog service's own Prometheus metrics (the shared ones are in farmlokal_common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

HEALTH_REPORTS_COMPUTED = Counter(
    "farmlokal_health_reports_computed_total",
    "System health reports computed (each runs every dependency probe once); callers within a second"
    " share the last one",
)
