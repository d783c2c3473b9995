"""The auth service's own Prometheus metrics (the shared ones are in farmlokal_common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

TOKEN_FETCHES = Counter(
    "farmlokal_token_fetches_total", "Calls to the OAuth provider's token endpoint by outcome", ["outcome"]
)
# Series the alerts count with increase() exist at 0 from the start: otherwise the first refused
# token request would appear already at 1, and increase() would never see it.
TOKEN_FETCHES.labels("rejected")
