"""A real Keycloak for the interop suite: fetched once with Maven into a cache folder, started on free ports.

The distribution (org.keycloak:keycloak-quarkus-dist, from Maven Central) is unpacked into
FARMLOKAL_TOOLS_CACHE (default ~/.cache/farmlokal), where it stays: a fresh clone on the same machine
(CI) reuses it. The first use also runs Keycloak once to do what every later start would repeat
(Quarkus' build step, ~20 s; the H2 schema and the master realm, ~15 s) and keeps the result: the
built distribution and a template database. Each instance gets a home of its own (bin/ and conf/
copied, lib/ and themes/ shared, data/ from the template), so concurrent runs never share state.
Keycloak 26 needs Java 21 or newer; the machine's default is 17 (`java_home`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack import processes

VERSION = "26.4.7"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
# The template database's bootstrap administrator (a throwaway Keycloak on the loopback only).
ADMIN = ("interop-admin", "interop-admin-password")
JAVA_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64", "/usr/lib/jvm/temurin-21-jdk-amd64")
SHARED = ("lib", "themes", "providers")


def cache_dir() -> Path:
    return Path(os.environ.get("FARMLOKAL_TOOLS_CACHE") or Path.home() / ".cache" / "farmlokal")


def java_home() -> str:
    """A JDK that runs Keycloak 26 (21+): KEYCLOAK_JAVA_HOME, else the image's Temurin."""
    for candidate in (os.environ.get("KEYCLOAK_JAVA_HOME", ""), *JAVA_CANDIDATES):
        if candidate and (Path(candidate) / "bin" / "java").exists():
            return candidate
    raise RuntimeError(
        "Keycloak 26 needs Java 21+: set KEYCLOAK_JAVA_HOME (the machine image has Temurin 25 in /usr/lib/jvm)"
    )


def distribution(log: Path) -> Path:
    """The built distribution and its template database, made once (under a lock) and reused."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    home = root / f"keycloak-{VERSION}"
    with open(root / f"keycloak-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "bin" / "kc.sh").exists():
            _fetch(root, home, log)
        if not _template(home).exists():
            _prepare(home, log)
    return home


def _fetch(root: Path, home: Path, log: Path) -> None:
    downloads = root / "downloads"
    with log.open("ab") as out:
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:copy",
                f"-Dartifact={ARTIFACT}",
                f"-DoutputDirectory={downloads}",
            ],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    staging = root / f"keycloak-{VERSION}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(downloads / f"keycloak-quarkus-dist-{VERSION}.zip") as archive:
        archive.extractall(staging)
    unpacked = staging / f"keycloak-{VERSION}"
    for script in (unpacked / "bin").glob("*.sh"):
        script.chmod(0o755)
    unpacked.rename(home)
    shutil.rmtree(staging, ignore_errors=True)


def _template(home: Path) -> Path:
    return home / "template" / "keycloakdb.mv.db"


def _prepare(home: Path, log: Path) -> None:
    """One start-dev: Quarkus builds into the shared lib/, and the fresh database is kept as template."""
    instance_dir = home.parent / f"keycloak-{VERSION}.preparing"
    shutil.rmtree(instance_dir, ignore_errors=True)
    with running(home, instance_dir, log, template=False) as keycloak:
        keycloak.admin_token()
    _template(home).parent.mkdir(exist_ok=True)
    shutil.copyfile(instance_dir / "data" / "h2" / "keycloakdb.mv.db", _template(home))
    shutil.rmtree(instance_dir, ignore_errors=True)


@dataclass
class Keycloak:
    http_port: int
    https_port: int
    process: processes.ManagedProcess
    started_in_seconds: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def admin_token(self) -> str:
        with httpx.Client(trust_env=False, timeout=10) as client:
            response = client.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": ADMIN[0],
                    "password": ADMIN[1],
                },
            )
        response.raise_for_status()
        return str(response.json()["access_token"])


@contextlib.contextmanager
def running(
    home: Path,
    instance_dir: Path,
    log: Path,
    template: bool = True,
    certificate: tuple[Path, Path] | None = None,
    timeout: float = 240.0,
) -> Iterator[Keycloak]:
    """`kc.sh start-dev` on free ports from a home of its own; https too when given (cert, key) files."""
    _instance_home(home, instance_dir, template)
    http_port, https_port = processes.free_port(), processes.free_port()
    argv = [
        str(instance_dir / "bin" / "kc.sh"),
        "start-dev",
        "--http-host=127.0.0.1",
        f"--http-port={http_port}",
    ]
    if certificate is not None:
        argv += [f"--https-port={https_port}", f"--https-certificate-file={certificate[0]}"]
        argv += [f"--https-certificate-key-file={certificate[1]}"]
    env = {
        "JAVA_HOME": java_home(),
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0],
        "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
    }
    started = time.monotonic()
    proc = processes.spawn("keycloak", argv, log, env=env, cwd=instance_dir)
    try:
        keycloak = Keycloak(http_port, https_port, proc, 0.0)
        _wait_ready(keycloak, timeout, log)
        keycloak.started_in_seconds = time.monotonic() - started
        yield keycloak
    finally:
        proc.stop(timeout=30)  # kc.sh and its java child: the whole process group


def _instance_home(home: Path, instance_dir: Path, template: bool) -> None:
    # kc.sh takes its home from its own resolved path: bin/ must be a copy, not a link.
    (instance_dir / "data" / "h2").mkdir(parents=True, exist_ok=True)
    shutil.copytree(home / "bin", instance_dir / "bin", dirs_exist_ok=True)
    shutil.copytree(home / "conf", instance_dir / "conf", dirs_exist_ok=True)
    for name in SHARED:
        link = instance_dir / name
        if not link.exists():
            link.symlink_to(home / name)
    if template:
        shutil.copyfile(_template(home), instance_dir / "data" / "h2" / "keycloakdb.mv.db")


def _wait_ready(keycloak: Keycloak, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    url = f"{keycloak.url}/realms/master/.well-known/openid-configuration"
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if keycloak.process.process.poll() is not None:
                raise RuntimeError(
                    f"keycloak exited ({keycloak.process.process.returncode}):\n{processes.tail(log, 30)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.5)
    raise TimeoutError(f"keycloak not ready within {timeout:.0f}s:\n{processes.tail(log, 30)}")
