"""The sandbox OAuth2 provider as a real process for e2e tests, with its test controls and counters."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import processes

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://sandbox.farmlokal.test/"
API_AUDIENCE = "https://api.farmlokal.test"
SERVICES_CLIENT = ("farmlokal-services", "dev-services-secret")
ADMIN_CLIENT = ("farmlokal-admin", "dev-admin-secret")


@dataclass
class SandboxProcess:
    port: int
    process: processes.ManagedProcess
    key_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def control(self, name: str, **body: Any) -> None:
        with httpx.Client(trust_env=False, timeout=5) as client:
            client.post(f"{self.url}/_sandbox/oauth/{name}", json=body).raise_for_status()

    def token_requests(self) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=5) as client:
            return client.get(f"{self.url}/_sandbox/oauth/counters").json()["token_requests"]

    def token(
        self, client: tuple[str, str] = ADMIN_CLIENT, scope: str | None = None, audience: str | None = None
    ) -> str:
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        if audience is not None:
            form["audience"] = audience
        with httpx.Client(trust_env=False, timeout=5) as http:
            response = http.post(self.token_url, data=form, auth=client)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        self.process.stop()


def start_sandbox(run_dir: Path, name: str, env: dict[str, str] | None = None) -> SandboxProcess:
    """`python -m sandbox` on a free port with a signing key from a file (so tests can forge tokens)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    key_file = run_dir / f"{name}-key.pem"
    if not key_file.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    port = processes.free_port()
    proc = processes.spawn(
        name,
        [sys.executable, "-m", "sandbox"],
        run_dir / f"{name}.log",
        env={
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": str(port),
            "SANDBOX_OAUTH_PRIVATE_KEY_FILE": str(key_file),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
        cwd=ROOT,
        port=port,
    )
    sandbox = SandboxProcess(port, proc, key_file)
    try:
        processes.wait_for_port(port, 30, proc.process, name)
        _wait_healthy(sandbox.url)
    except BaseException:
        proc.stop()
        raise
    return sandbox


def _wait_healthy(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(trust_env=False, timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                answer = client.get(f"{url}/healthz")
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.05)
    raise TimeoutError(f"sandbox at {url} not healthy within {timeout:.0f}s (last: {last})")
