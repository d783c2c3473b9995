"""The token broker's promises with real processes: several `python -m auth_service` on free ports
sharing the e2e stack's Redis and MariaDB, and a sandbox OAuth2 provider of each test's own whose
counters are the truth about provider calls (reliability.md, OAuth2 row; benchmarks.md B7).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import jwt
import pytest
from farmlokal.auth.v1 import auth_internal_pb2 as auth_pb2
from farmlokal.auth.v1 import auth_internal_pb2_grpc as auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import farmlokal_edge as edge_config
from devstack import processes, services
from devstack.envoy_process import start_envoy
from tests.e2e.auth_sandbox import SandboxProcess, start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SERVICES_SECRET = "dev-services-secret"
SUPPLIER_AUDIENCE = "https://supplier.farmlokal.test"
REQUEST = auth_pb2.GetAccessTokenRequest()


@dataclass
class AuthCluster:
    """N auth_service processes against one sandbox; remembers every token it saw for the log check."""

    run_dir: Path
    sandbox: SandboxProcess
    secret: str
    procs: list[processes.ManagedProcess] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    channels: list[grpc.Channel] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    extra_logs: list[Path] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stub(self, index: int) -> auth_pb2_grpc.TokenBrokerServiceStub:
        return auth_pb2_grpc.TokenBrokerServiceStub(self.channels[index])

    def get(self, index: int, timeout: float = 20) -> auth_pb2.GetAccessTokenResponse:
        return self.seen(self.stub(index).GetAccessToken(REQUEST, timeout=timeout))

    def seen(self, response: auth_pb2.GetAccessTokenResponse) -> auth_pb2.GetAccessTokenResponse:
        with self._lock:
            self.tokens.add(response.access_token)
        return response

    def kill(self, index: int) -> None:
        os.killpg(self.procs[index].pid, signal.SIGKILL)

    def logs(self) -> list[Path]:
        return [proc.log_path for proc in self.procs] + [self.sandbox.process.log_path, *self.extra_logs]

    def assert_logs_hold_no_secret_or_token(self) -> None:
        assert self.tokens or self.secret != SERVICES_SECRET, "the test saw no token to look for"
        for path in self.logs():
            text = path.read_text(errors="replace")
            assert text, f"{path} is empty: nothing was checked"
            assert self.secret not in text, f"{path} contains the client secret"
            for token in self.tokens:
                assert token.split(".")[2] not in text, f"{path} contains an issued token"


@pytest.fixture(scope="module")
def auth_database(stack_mariadb, stack_redis) -> str:
    """The auth schema migrated once (the edge fixture may not have run)."""
    url = stack_mariadb.service_url(services.SCHEMA["auth"])
    services.migrate(services.ServicePlan("auth", 0, 0, url, stack_redis.url))
    return url


@pytest.fixture
def start_cluster(run_dir: Path, auth_database: str, stack_redis) -> Iterator:
    """start_cluster(count, env, secret) -> AuthCluster; everything it started stops after the test."""
    clusters: list[AuthCluster] = []
    test_dir = run_dir / f"auth-{uuid.uuid4().hex[:8]}"

    def start(count: int, env: dict[str, str] | None = None, secret: str = SERVICES_SECRET) -> AuthCluster:
        sandbox = start_sandbox(test_dir, "sandbox")
        cluster = AuthCluster(test_dir, sandbox, secret)
        clusters.append(cluster)
        settings = {
            "AUTH_TOKEN_URL": sandbox.token_url,
            "AUTH_CLIENT_SECRET": secret,
            "AUTH_LOG_LEVEL": "DEBUG",
            **(env or {}),
        }
        plans = [
            services.ServicePlan(
                "auth", processes.free_port(), processes.free_port(), auth_database, stack_redis.url
            )
            for _ in range(count)
        ]
        for index, plan in enumerate(plans):
            cluster.procs.append(services.start(plan, test_dir / f"auth-{index}.log", settings))
            cluster.addresses.append(plan.address)
        for plan, proc in zip(plans, cluster.procs, strict=True):
            channel = grpc.insecure_channel(plan.address)
            cluster.channels.append(channel)
            _wait_serving(channel, proc)
        return cluster

    yield start
    for cluster in clusters:
        for channel in cluster.channels:
            channel.close()
        for proc in cluster.procs:
            proc.stop()
        cluster.sandbox.stop()


def _wait_serving(channel: grpc.Channel, proc: processes.ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    health = health_pb2_grpc.HealthStub(channel)
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(
                f"auth_service exited; see {proc.log_path}:\n{proc.log_path.read_text()[-2000:]}"
            )
        try:
            if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"auth_service not SERVING within {timeout:.0f}s; see {proc.log_path}")


def _claims(cluster: AuthCluster, token: str) -> dict:
    """Verified with the sandbox's key: a real token from this provider, for the supplier audience."""
    public = cluster.sandbox.private_key().public_key()
    return jwt.decode(token, public, algorithms=["RS256"], audience=SUPPLIER_AUDIENCE)


def _wait_for(condition, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
    return time.monotonic()


def test_three_processes_fifty_callers_each_cold_cache_one_provider_call(start_cluster) -> None:
    cluster = start_cluster(3)
    cluster.sandbox.control("latency", seconds=0.5)  # every caller is in flight before the answer
    futures = [cluster.stub(i % 3).GetAccessToken.future(REQUEST, timeout=20) for i in range(150)]
    responses = [cluster.seen(f.result()) for f in futures]
    assert cluster.sandbox.token_requests() == {"total": 1, "by_outcome": {"issued": 1}}
    assert len({r.fingerprint for r in responses}) == 1
    assert len({r.access_token for r in responses}) == 1
    assert _claims(cluster, responses[0].access_token)["sub"] == "farmlokal-services"
    assert {r.source for r in responses} <= {"provider", "cache"}
    cluster.assert_logs_hold_no_secret_or_token()


def test_short_lived_token_is_replaced_before_it_expires(start_cluster) -> None:
    cluster = start_cluster(2, {"AUTH_REFRESH_SKEW_SECONDS": "2"})
    cluster.sandbox.control("expires-in", seconds=4)
    first_seen: dict[str, float] = {}
    expiry: dict[str, float] = {}
    end = time.time() + 11
    while time.time() < end:
        for index in (0, 1):
            response = cluster.get(index)
            now = time.time()
            exp = _claims(cluster, response.access_token)["exp"]  # verified, so exp is checked too
            assert exp > now, "a caller received an expired token"
            assert response.expires_at.ToNanoseconds() / 1e9 > now
            first_seen.setdefault(response.access_token, now)
            expiry[response.access_token] = exp
        time.sleep(0.05)
    order = sorted(first_seen, key=first_seen.__getitem__)
    assert len(order) >= 3, "tokens were not refreshed"
    for previous, following in itertools.pairwise(order):
        assert first_seen[following] < expiry[previous], "a token was replaced only after it expired"
    counters = cluster.sandbox.token_requests()
    assert counters["by_outcome"] == {"issued": counters["total"]}
    assert counters["total"] <= len(order) + 1  # one call per expiry window, not one per caller
    cluster.assert_logs_hold_no_secret_or_token()


def test_lock_holder_killed_mid_refresh_delays_the_next_refresh_by_at_most_the_lock_ttl(
    start_cluster,
) -> None:
    ttl = 2.0
    cluster = start_cluster(
        2,
        {
            "AUTH_REFRESH_LOCK_TTL_SECONDS": str(ttl),
            "AUTH_REFRESH_LOCK_WAIT_SECONDS": "15",
            "AUTH_PROVIDER_DEADLINE_SECONDS": "1.9",
        },
    )
    cluster.sandbox.control("latency", seconds=1.5)  # below the 2 s per-attempt read timeout
    fired = time.monotonic()
    doomed = cluster.stub(0).GetAccessToken.future(REQUEST, timeout=20)
    arrived = _wait_for(lambda: cluster.sandbox.token_requests()["total"] == 1)
    cluster.kill(0)  # holds the refresh lock, its provider call unanswered
    cluster.sandbox.control("latency", seconds=0)
    response = cluster.get(1)
    done = time.monotonic()
    with pytest.raises(grpc.RpcError) as died:
        doomed.result()
    assert died.value.code() == grpc.StatusCode.UNAVAILABLE
    assert response.source == "provider"
    assert cluster.sandbox.token_requests()["total"] == 2
    # The survivor could not take the lock before it expired, and took it soon after.
    assert done - fired >= ttl
    assert done - arrived <= ttl + 2.0
    cluster.assert_logs_hold_no_secret_or_token()


def test_provider_down_while_the_token_is_valid_leaves_callers_unaffected(start_cluster) -> None:
    cluster = start_cluster(2, {"AUTH_REFRESH_SKEW_SECONDS": "3", "AUTH_PROVIDER_DEADLINE_SECONDS": "2"})
    cluster.sandbox.control("expires-in", seconds=7)
    token = cluster.get(0)
    expires_at = token.expires_at.ToNanoseconds() / 1e9
    cluster.sandbox.stop()  # the provider is gone, for good
    answered = 0
    while time.time() < expires_at - 1.5:  # through the early-refresh window, where refreshes fail
        started = time.monotonic()
        futures = [cluster.stub(i % 2).GetAccessToken.future(REQUEST, timeout=5) for i in range(20)]
        responses = [cluster.seen(f.result()) for f in futures]
        assert time.monotonic() - started < 1.0, "callers waited on the failing provider"
        assert {r.fingerprint for r in responses} == {token.fingerprint}
        assert {r.source for r in responses} == {"cache"}
        answered += len(responses)
        time.sleep(0.2)
    assert answered >= 200
    _wait_for(lambda: time.time() > expires_at + 0.2, timeout=10)
    with pytest.raises(grpc.RpcError) as expired:
        cluster.get(1)
    assert expired.value.code() == grpc.StatusCode.UNAVAILABLE  # only once no valid token is left
    assert "unavailable" in expired.value.details().lower()
    cluster.assert_logs_hold_no_secret_or_token()


def test_invalid_client_is_a_clear_failed_precondition_after_one_provider_call(start_cluster) -> None:
    """Internal callers get FAILED_PRECONDITION naming invalid_client; a public client of token-info gets
    a 503 (the deployment's credentials, not its request), with the same reason."""
    secret = f"wrong-{uuid.uuid4().hex}"
    cluster = start_cluster(3, secret=secret)
    envoy, listen = _edge_in_front_of(cluster)
    try:
        futures = [cluster.stub(i % 3).GetAccessToken.future(REQUEST, timeout=20) for i in range(30)]
        errors = []
        for future in futures:
            with pytest.raises(grpc.RpcError) as caught:
                future.result()
            errors.append(caught.value)
        with httpx.Client(trust_env=False, timeout=10) as http:
            rest = http.get(f"http://127.0.0.1:{listen}/v1/auth/token-info")
    finally:
        envoy.stop()
    assert {e.code() for e in errors} == {grpc.StatusCode.FAILED_PRECONDITION}, [
        (e.code(), e.details()) for e in errors
    ]
    assert all("invalid_client" in e.details() for e in errors)
    assert all(secret not in e.details() for e in errors)
    assert rest.status_code == 503
    assert rest.json()["code"] == 14
    assert "invalid_client" in rest.json()["message"]
    assert secret not in rest.text
    assert cluster.sandbox.token_requests() == {"total": 1, "by_outcome": {"invalid_client": 1}}
    cluster.assert_logs_hold_no_secret_or_token()


def _edge_in_front_of(cluster: AuthCluster) -> tuple[processes.ManagedProcess, int]:
    """An Envoy whose auth cluster is the cluster's first process (catalog and webhook absent)."""
    closed = f"127.0.0.1:{processes.free_port()}"
    cfg = edge_config.EdgeConfig(
        listen_port=processes.free_port(),
        admin_port=processes.free_port(),
        catalog_address=closed,
        webhook_address=closed,
        auth_address=cluster.addresses[0],
        descriptor_path=ROOT / "build" / "gen" / "api.pb",
        jwks_uri=cluster.sandbox.jwks_uri,
    )
    directory = cluster.run_dir / "envoy"
    path = edge_config.write_edge_config(cfg, directory / "envoy.yaml")
    envoy = start_envoy(path, cfg.admin_port, cfg.listen_port, directory / "envoy.log")
    cluster.extra_logs.append(directory / "envoy.log")
    return envoy, cfg.listen_port
