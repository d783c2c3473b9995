"""The multi-host suite: hosts made of network namespaces (root only). It runs only when selected with
`-m distributed` (`make test-distributed`, a CI step of its own), never inside `make test`."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distributed.cluster import Cluster, running_cluster
from tests.distributed.netns import NetnsUnavailable, require_netns

HERE = Path(__file__).parent
# Logs of the hosts' processes; not pytest's temporary folders, which another session's run may prune.
RUNS = HERE.parents[1] / "build" / "distributed"
KEEP_RUNS = 3
PRODUCTS = 2000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "distributed: several hosts in network namespaces (make test-distributed)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "distributed" in (config.getoption("markexpr") or "")
    ours = [item for item in items if HERE in item.path.parents]
    for item in ours:
        item.add_marker(pytest.mark.distributed)
    if not selected and ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Six hosts on a bridge, the system running on them; namespaces, cables and the bridge are
    removed by the context manager's finally, whatever the test did."""
    try:
        require_netns()
    except NetnsUnavailable as error:
        pytest.fail(f"make test-distributed needs network namespaces: {error}")
    RUNS.mkdir(parents=True, exist_ok=True)
    for old in sorted(RUNS.iterdir(), key=lambda p: p.stat().st_mtime)[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)
    run_dir = RUNS / uuid.uuid4().hex[:8]
    print(f"\ndistributed: logs in {run_dir}")
    with running_cluster(run_dir, PRODUCTS) as running:
        yield running
