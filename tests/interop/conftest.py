"""The interop suite's world: a real Keycloak (tests/interop/keycloak.py) with the farmlokal realm, and
the dev stack started as `make up` starts it, configured for Keycloak by settings alone.

The edge fetches Keycloak's JWKS over https (a certificate from a CA made here, EDGE_JWKS_CA_FILE),
the token broker gets the services client's tokens from Keycloak, and the sandbox supplier accepts
Keycloak's tokens (SANDBOX_SUPPLIER_JWKS_URL), so a sync runs end to end with them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack import processes, stack
from tests.dev_stack import dev_stack
from tests.interop import keycloak as kc
from tests.interop.realm import API_AUDIENCE, SERVICES, SUPPLIER_AUDIENCE, RealmAdmin

MEASUREMENTS = pytest.StashKey[dict[str, str]]()
# Short enough for the rotation tests to wait it out; the skew leaves room for a token that expires.
JWKS_CACHE_SECONDS = 10
CLOCK_SKEW_SECONDS = 5


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop: against a real Keycloak (make test-interop)")
    config.stash[MEASUREMENTS] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/interop/" in str(item.path):
            item.add_marker(pytest.mark.interop)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    measured = config.stash.get(MEASUREMENTS, {})
    if measured:
        terminalreporter.section("interop measurements")
        for name, value in measured.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def measurements(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.config.stash[MEASUREMENTS]


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def certificates(run_dir: Path) -> Certificates:
    """A CA and a certificate for localhost and 127.0.0.1 signed by it (Keycloak's https)."""
    directory = run_dir / "tls"
    directory.mkdir()
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "farmlokal interop CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.fixture(scope="session")
def keycloak(
    run_dir: Path, certificates: Certificates, measurements: dict[str, str]
) -> Iterator[kc.Keycloak]:
    log = run_dir / "keycloak.log"
    home = kc.distribution(log)
    with kc.running(
        home, run_dir / "keycloak", log, certificate=(certificates.cert, certificates.key)
    ) as server:
        measurements["Keycloak start (cached distribution and database)"] = (
            f"{server.started_in_seconds:.1f} s"
        )
        yield server


@pytest.fixture(scope="session")
def realm(keycloak: kc.Keycloak) -> Iterator[RealmAdmin]:
    admin = RealmAdmin(keycloak)
    admin.create()
    yield admin
    admin.close()


@dataclass(frozen=True)
class Stack:
    cfg: stack.StackConfig
    settings: dict[str, str]

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.port('envoy')}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.edge_url, trust_env=False, timeout=30)

    def redis(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.cfg.port("redis"), db=db)

    @property
    def root_url(self) -> str:
        return processes.root_url(self.cfg.run_dir / "mariadb")

    def flush_tokens(self) -> None:
        """Drops every token the broker holds (a cold cache)."""
        with self.redis() as client:
            for key in client.scan_iter("auth:token:*"):
                client.delete(key)


def keycloak_settings(realm: RealmAdmin, certificates: Certificates) -> dict[str, str]:
    """What an operator sets to use Keycloak (README "Admin routes"), plus the suite's test knobs."""
    return {
        "AUTH_TOKEN_URL": realm.token_url,
        "AUTH_CLIENT_ID": SERVICES.client_id,
        "AUTH_CLIENT_SECRET": SERVICES.secret,
        "AUTH_AUDIENCE": SUPPLIER_AUDIENCE,
        "AUTH_SCOPE": "supplier:read",
        "EDGE_JWT_ISSUER": realm.issuer,
        "EDGE_JWT_AUDIENCES": API_AUDIENCE,
        "EDGE_JWKS_URI": realm.jwks_uri(https=True),
        "EDGE_JWKS_CA_FILE": str(certificates.ca),
        "EDGE_JWKS_CACHE_SECONDS": str(JWKS_CACHE_SECONDS),
        "EDGE_JWT_CLOCK_SKEW_SECONDS": str(CLOCK_SKEW_SECONDS),
        # The sandbox stays the supplier; it checks Keycloak's tokens instead of its own.
        "SANDBOX_SUPPLIER_JWKS_URL": realm.jwks_uri(),
        "SANDBOX_SUPPLIER_TOKEN_ISSUER": realm.issuer,
        "SANDBOX_SUPPLIER_PRODUCT_COUNT": "50",
        "AUTH_RATE_LIMITS": "*=100000/1",
        "CATALOG_RATE_LIMITS": "*=100000/1",
        "WEBHOOK_RATE_LIMITS": "*=100000/1",
        "FARMLOKAL_MARIADB_BUFFER_POOL": "128M",
    }


@pytest.fixture(scope="session")
def interop_stack(run_dir: Path, realm: RealmAdmin, certificates: Certificates) -> Iterator[Stack]:
    settings = keycloak_settings(realm, certificates)
    with dev_stack(run_dir / "stack", settings) as cfg:
        yield Stack(cfg, settings)
