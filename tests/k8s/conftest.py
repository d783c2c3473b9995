"""Chart tests over `helm template` output (deploy/helm/farmlokal). They run when selected with `-m k8s`
(`make k8s-check`, which builds the pinned helm and hands it over in $HELM), never inside `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CHART = ROOT / "deploy" / "helm" / "farmlokal"
PRODUCTION = CHART / "values-production.yaml"
KUBE_VERSION = "1.34.0"

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "k8s: chart tests over helm template output (make k8s-check)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "k8s" in (config.getoption("markexpr") or "")
    ours = [item for item in items if HERE in item.path.parents]
    for item in ours:
        item.add_marker(pytest.mark.k8s)
    if not selected and ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


def helm_binary() -> str:
    found = os.environ.get("HELM") or shutil.which("helm")
    if not found:
        pytest.fail("no helm: run the chart tests with `make k8s-check` (it installs the pinned helm)")
    return found


class RenderError(RuntimeError):
    """helm template refused the values; the message is helm's."""


def helm_template(
    values: Sequence[Path] = (), sets: Sequence[str] = (), chart: Path = CHART, release: str = "farmlokal"
) -> list[Manifest]:
    argv = [
        helm_binary(),
        "template",
        release,
        str(chart),
        "--kube-version",
        KUBE_VERSION,
        "--namespace",
        "shop",
    ]
    for path in values:
        argv += ["-f", str(path)]
    for assignment in sets:
        argv += ["--set", assignment]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def render() -> Render:
    return helm_template


@pytest.fixture(scope="session")
def default_manifests() -> list[Manifest]:
    return helm_template()


@pytest.fixture(scope="session")
def production_manifests() -> list[Manifest]:
    return helm_template([PRODUCTION])


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def component(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/component"])


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
