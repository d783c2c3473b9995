"""Runs last in the e2e suite: no log written by any process it started carries a secret, a token or
a webhook signature."""

from __future__ import annotations

import re
from pathlib import Path

from webhook_service.signature import secret_key

SECRETS = {
    "webhook source secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "services client secret": "dev-services-secret",
    "database password": "_dev_pw",
}
PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),
    "a bearer credential": re.compile(r"[Bb]earer [A-Za-z0-9._-]{16,}"),
    "a webhook signature": re.compile(r"v1,[A-Za-z0-9+/]{43}="),
    "a subscription secret": re.compile(r"whsec_[A-Za-z0-9+/]{20,}"),
}


def test_no_log_carries_a_secret_token_or_signature(edge, run_dir: Path) -> None:
    logs = [p for p in run_dir.rglob("*.log") if "mariadb" not in p.name and "redis" not in p.name]
    assert any("catalog" in p.name for p in logs), "the e2e logs were not found"
    assert secret_key(SECRETS["webhook source secret"])  # the secret the e2e tests signed with
    leaks = []
    for path in logs:
        text = path.read_text(errors="replace")
        leaks += [f"{path.name}: {name}" for name, value in SECRETS.items() if value in text]
        leaks += [f"{path.name}: {name}" for name, pattern in PATTERNS.items() if pattern.search(text)]
    assert leaks == []
