"""A real Prometheus (Debian's binary) for tests: deploy/prometheus's config and rules on a live stack's ports."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack import processes

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
# A test cannot wait out an alert's `for` (minutes); rules_test.yml checks the real durations.
TEST_FOR = "2s"


def scrape_config(targets: dict[str, list[str]], rules: Path, interval: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with these host:port targets per job and the test's intervals.

    The jobs must be the deployed file's, so a job the file forgot (or one it lists that the stack
    does not run) fails the test instead of going unscraped.
    """
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    if jobs != set(targets):
        raise ValueError(
            f"deploy/prometheus/prometheus.yml scrapes {sorted(jobs)}, the stack runs {sorted(targets)}"
        )
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    config["global"] = {
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "evaluation_interval": interval,
    }
    config["rule_files"] = [str(rules)]
    return config


def rules_for_tests(destination: Path) -> Path:
    """rules.yml with every alert's `for` cut to TEST_FOR (expressions and labels unchanged)."""
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = TEST_FOR
    destination.write_text(yaml.safe_dump(rules, sort_keys=False))
    return destination


@dataclass
class Prometheus:
    port: int
    process: processes.ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH; the `data` of a success, else AssertionError with Prometheus' error."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10, trust_env=False)
        body = response.json()
        assert body.get("status") == "success", (
            f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
        )
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series (a vector; a scalar comes back as one unlabelled series)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", state="active")["activeTargets"])

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """Labels of the firing ALERTS series of that alert."""
        found = self.query(f'ALERTS{{alertname="{alertname}",alertstate="firing"}}')
        return [series["metric"] for series in found]

    def stop(self) -> None:
        self.process.stop()


def start_prometheus(run_dir: Path, targets: dict[str, list[str]], interval: str = "1s") -> Prometheus:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed; scripts/bootstrap.sh installs Debian's package")
    run_dir.mkdir(parents=True, exist_ok=True)
    rules = rules_for_tests(run_dir / "rules.yml")
    config = run_dir / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(targets, rules, interval), indent=2))
    port = processes.free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={run_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
    proc = processes.spawn("prometheus", argv, run_dir / "prometheus.log", port=port)
    server = Prometheus(port, proc)
    try:
        wait_until(lambda: _ready(server), 30, "Prometheus ready")
    except BaseException:
        proc.stop()
        raise
    return server


def _ready(server: Prometheus) -> bool:
    if server.process.process.poll() is not None:
        log = server.process.log_path.read_text(errors="replace")
        raise RuntimeError(f"prometheus exited ({server.process.process.returncode}):\n{log[-3000:]}")
    try:
        return httpx.get(f"{server.url}/-/ready", timeout=1, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Polls condition (true-ish ends it); the seconds it took, or TimeoutError naming `what`."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"not {what} within {timeout:.0f}s")


def selectors(expr: str) -> list[str]:
    """Metric names an expression reads (for messages: which series a failing query needed)."""
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)", expr))
    return sorted(words - {"by", "without", "on", "ignoring", "group_left", "group_right"})
