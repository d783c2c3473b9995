"""Property-based fuzzing of every REST route in docs/openapi/farmlokal.swagger.json through the real edge:
no 5xx, and every answer conforms to the spec (documented status, JSON content type, body schema).

Bounded for `make test` and CI (FUZZ_MAX_EXAMPLES, default 100 per route); `make fuzz` runs it longer.
Checks that would misread this API are left out on purpose: the spec types `limit`, prices and ids as
strings (the services answer bad values with 400 and field violations), so schemathesis's
positive_data_acceptance would call a correct 400 for `limit=abc` a failure, and
negative_data_rejection has nothing typed to reject. Admin routes get an admin token from the sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import FuzzTarget

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "farmlokal.swagger.json"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ADMIN_PREFIXES = ("/v1/supplier/", "/v1/webhooks/events", "/v1/webhooks/subscriptions")

schema = schemathesis.openapi.from_path(SPEC)

pytestmark = pytest.mark.fuzz


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_server_error_and_every_answer_conforms(case: schemathesis.Case, fuzz_target: FuzzTarget) -> None:
    headers = {}
    if case.path.startswith(ADMIN_PREFIXES):
        headers["authorization"] = f"Bearer {fuzz_target.admin_token}"
    keep_subscriber_urls_local(case)
    case.call_and_validate(base_url=fuzz_target.base_url, headers=headers, checks=CHECKS, timeout=20)


def keep_subscriber_urls_local(case: schemathesis.Case) -> None:
    """A subscriber URL's host is resolved by the SSRF guard: a fuzzed host name would be looked up in
    DNS. Keep the scheme, port, path and query the fuzzer chose, on a loopback IP (refused: 400)."""
    body: Any = case.body
    if (
        case.path == "/v1/webhooks/subscriptions"
        and isinstance(body, dict)
        and isinstance(body.get("url"), str)
    ):
        try:
            parts = urlsplit(body["url"])
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            return
        if parts.hostname:
            body["url"] = urlunsplit((parts.scheme, f"127.0.0.1{port}", parts.path, parts.query, ""))
