"""`python -m farmlokal_edge --out DIR` (compose's edge-config job): a config Envoy accepts, needing no file beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from farmlokal_edge import validate_edge_config
from farmlokal_edge.__main__ import golden, main


def test_compose_edge_config_is_accepted_by_envoy(tmp_path: Path) -> None:
    out = tmp_path / "edge"
    assert main(["--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["envoy.yaml"]
    assert 'proto_descriptor"' not in (out / "envoy.yaml").read_text()  # embedded: proto_descriptor_bin
    validate_edge_config(out / "envoy.yaml")


def test_the_cli_reads_the_provider_from_edge_variables(tmp_path: Path, monkeypatch) -> None:
    """Compose's and the chart's edge-config job: settings only, no flags."""
    monkeypatch.setenv("EDGE_JWT_ISSUER", "https://tenant.eu.auth0.com/")
    monkeypatch.setenv("EDGE_JWT_AUDIENCES", "https://api.farmlokal.test")
    monkeypatch.setenv("EDGE_JWKS_URI", "https://tenant.eu.auth0.com/.well-known/jwks.json")
    monkeypatch.setenv("EDGE_JWKS_CACHE_SECONDS", "120")
    assert main(["--out", str(tmp_path)]) == 0
    rendered = json.loads((tmp_path / "envoy.yaml").read_text())
    [provider] = _jwt_providers(rendered)
    assert provider["issuer"] == "https://tenant.eu.auth0.com/"
    assert provider["remote_jwks"]["http_uri"]["uri"] == "https://tenant.eu.auth0.com/.well-known/jwks.json"
    assert provider["remote_jwks"]["cache_duration"] == "120s"
    validate_edge_config(tmp_path / "envoy.yaml")


def test_without_settings_the_cli_trusts_composes_sandbox(tmp_path: Path, monkeypatch) -> None:
    for name in ("EDGE_JWT_ISSUER", "EDGE_JWT_AUDIENCES", "EDGE_JWKS_URI", "EDGE_JWKS_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--out", str(tmp_path)]) == 0
    [provider] = _jwt_providers(json.loads((tmp_path / "envoy.yaml").read_text()))
    assert provider["issuer"] == "https://sandbox.farmlokal.test/"
    assert provider["remote_jwks"]["http_uri"]["uri"] == "http://sandbox:18090/.well-known/jwks.json"


def test_the_golden_file_ignores_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("EDGE_JWT_ISSUER", "https://elsewhere.example/")
    assert "https://elsewhere.example/" not in golden()


def _jwt_providers(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    jwt = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.jwt_authn")
    return list(jwt["typed_config"]["providers"].values())
