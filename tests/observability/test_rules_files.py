"""deploy/prometheus holds together: promtool accepts the config and rules and their unit tests pass,
every alert has a summary, a runbook section and a firing and a quiet test case."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
RUNBOOK = ROOT / "docs" / "runbook.md"


def alerts() -> list[dict[str, Any]]:
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing; scripts/bootstrap.sh installs Debian's prometheus package")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_promtool_accepts_the_config_and_the_rules_tests_pass() -> None:
    for args in (
        ("check", "config", "--lint=all", str(DEPLOY / "prometheus.yml")),
        ("test", "rules", str(DEPLOY / "rules_test.yml")),
    ):
        result = promtool(*args)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_every_alert_has_a_summary_a_severity_and_a_runbook_section() -> None:
    sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.MULTILINE))
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        name = alert["alert"]
        assert alert["annotations"]["summary"], name
        assert alert["labels"]["severity"] in ("page", "ticket"), name
        assert alert["annotations"]["runbook"] == f"docs/runbook.md#{name.lower()}"
        assert name in sections, f"docs/runbook.md has no section '## {name}'"
    assert sections == set(names), "runbook sections without an alert"


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [
        case
        for test in yaml.safe_load((DEPLOY / "rules_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for name in (alert["alert"] for alert in alerts()):
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: needs a case where it fires and one where it does not"
