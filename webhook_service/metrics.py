"""The webhook service's own Prometheus metrics (the shared ones are in farmlokal_common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOK_EVENTS = Counter(
    "farmlokal_webhook_events_total", "Inbound webhook events by what happened to them", ["status"]
)
WEBHOOK_DELIVERIES = Counter(
    "farmlokal_webhook_deliveries_total",
    "Outbound delivery attempts by outcome and subscription (a subscription id per subscriber)",
    ["outcome", "subscription"],
)
WEBHOOK_BACKLOG_AGE = Gauge(
    "farmlokal_webhook_backlog_oldest_age_seconds",
    "Age of the oldest inbound event not yet processed or dead (0: none), as this process last read it",
)
# Series the alerts count with increase() exist at 0 from the start: otherwise the first dead event
# would appear already at 1, and increase() would never see it.
WEBHOOK_EVENTS.labels("dead")
