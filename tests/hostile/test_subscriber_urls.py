"""Class: server-side request forgery through a webhook subscriber URL.

A subscription makes the webhook service POST to its URL; addresses outside the globally routable
internet (CGNAT, a cloud's metadata service, the IETF's 192.0.0.0/24, link-local, embedded in
IPv6) used to be accepted because Python's is_private misses some of them. Expected: a 400 naming
url at creation (the same policy runs again before every delivery, tests/unit/webhooks). The
hostile stack allows loopback subscribers (WEBHOOK_ALLOW_SUBSCRIBER_NETWORKS=loopback), so a
loopback URL is the control.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.auth_sandbox import SandboxProcess

REFUSED = [
    "http://100.64.0.1/",
    "http://192.0.0.192/",
    "http://100.100.100.200/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[fe80::1]/",
    "http://0.0.0.0:8080/",
    "http://10.0.0.1/",  # private: not allowed by "loopback"
    "http://224.0.0.1/",
]


def _create(client: httpx.Client, sandbox: SandboxProcess, url: str) -> httpx.Response:
    return client.post(
        "/v1/webhooks/subscriptions",
        json={"url": url, "event_types": ["product.updated"], "description": "hostile"},
        headers={"authorization": f"Bearer {sandbox.token(scope='webhooks:admin')}"},
    )


@pytest.mark.parametrize("url", REFUSED)
def test_subscriber_url_outside_the_global_internet_is_refused(
    client: httpx.Client, hostile_sandbox: SandboxProcess, url: str
) -> None:
    response = _create(client, hostile_sandbox, url)
    assert response.status_code == 400, response.text
    violation = response.json()["details"][0]["field_violations"][0]
    assert violation["field"] == "url"
    assert "not a globally routable address" in violation["description"]


def test_loopback_subscriber_is_allowed_where_configured(
    client: httpx.Client, hostile_sandbox: SandboxProcess
) -> None:
    response = _create(client, hostile_sandbox, "http://127.0.0.1:9/hooks")
    assert response.status_code == 200, response.text
    delete = client.delete(
        f"/v1/webhooks/subscriptions/{response.json()['id']}",
        headers={"authorization": f"Bearer {hostile_sandbox.token(scope='webhooks:admin')}"},
    )
    assert delete.status_code == 200
