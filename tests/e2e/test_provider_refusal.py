"""A stack whose OAuth client secret the provider refuses: what public clients, admins and /health see.

The deployment is misconfigured, the callers did nothing wrong: token metadata and a sync answer 503
with the reason, /health reports the provider degraded with the reason; the secret appears nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_mariadb, start_redis
from tests.e2e.auth_sandbox import API_AUDIENCE, SandboxProcess
from tests.e2e.conftest import Edge, running_stack

pytestmark = pytest.mark.e2e

WRONG_SECRET = f"wrong-secret-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def refused(run_dir: Path, sandbox: SandboxProcess) -> Iterator[Edge]:
    """Its own MariaDB and Redis: no token cached by the e2e stack (same provider and client) is shared."""
    mariadb, redis_server = start_mariadb(run_dir, "refused-mariadb"), start_redis(run_dir, "refused-redis")
    try:
        with running_stack(
            run_dir, "refused", mariadb, redis_server, sandbox, env={"AUTH_CLIENT_SECRET": WRONG_SECRET}
        ) as stack:
            yield stack
    finally:
        redis_server.stop()
        mariadb.process.stop()


@pytest.fixture
def http(refused: Edge) -> Iterator[httpx.Client]:
    with refused.client() as client:
        client.timeout = httpx.Timeout(60)
        yield client


def _unavailable(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == 14
    assert WRONG_SECRET not in response.text
    return str(body["message"])


def test_token_metadata_is_503_with_the_reason_not_400(http: httpx.Client) -> None:
    message = _unavailable(http.get("/v1/auth/token-info"))
    assert "refused the client credentials" in message and "invalid_client" in message


def test_health_reports_the_provider_degraded_with_the_reason(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "degraded"
    provider = report["checks"]["oauth_provider"]
    assert provider["state"] == "degraded"
    assert "invalid_client" in provider["detail"]
    assert WRONG_SECRET not in response.text


def test_a_sync_without_a_token_is_503_with_the_reason(http: httpx.Client, sandbox: SandboxProcess) -> None:
    admin = {"authorization": f"Bearer {sandbox.token(scope='catalog:admin', audience=API_AUDIENCE)}"}
    message = _unavailable(http.post("/v1/supplier/sync", json={}, headers=admin))
    assert "nothing was fetched" in message and "invalid_client" in message
    status = http.get("/v1/supplier/status", headers=admin).json()
    assert "invalid_client" in status["last_error"]
