"""`python -m farmlokal_edge --out DIR` (compose's edge-config job): a config Envoy accepts, with its descriptor."""

from __future__ import annotations

from pathlib import Path

from farmlokal_edge import validate_edge_config
from farmlokal_edge.__main__ import main


def test_compose_edge_config_is_accepted_by_envoy(tmp_path: Path) -> None:
    out = tmp_path / "edge"
    assert main(["--out", str(out)]) == 0
    assert (out / "api.pb").exists()
    assert str(out / "api.pb") in (out / "envoy.yaml").read_text()
    validate_edge_config(out / "envoy.yaml")
