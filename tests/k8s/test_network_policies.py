"""The NetworkPolicies allow exactly the flows the architecture has, per pod and port, and nothing else.

The internal RPCs share their port with the public services (ProductWriteService on the catalog's
15051, EventPublishService on the webhook's 15052, TokenBrokerService on the auth's 15053), so what a
policy can say is "only the edge and webhook reach 15051 of the catalog": which gRPC service is called
on that port is the edge's routes' business (they route public methods only; tests/edge).
"""

from __future__ import annotations

from typing import Any

from tests.k8s.conftest import Manifest, of_kind

Flow = tuple[str, str, int]  # (from: a component, ns:<namespace> or anyone; to: a component; port)

# Between the release's own pods.
CALLS = {
    ("edge", "catalog", 15051),  # CatalogService, SupplierService, SystemHealthService; health checks
    ("webhook", "catalog", 15051),  # ProductWriteService (the inbound event worker)
    ("edge", "webhook", 15052),  # WebhookService, WebhookAdminService
    ("catalog", "webhook", 15052),  # EventPublishService (the outbox relay)
    ("edge", "auth", 15053),  # TokenInfoService
    ("catalog", "auth", 15053),  # TokenBrokerService (the supplier client)
    ("anyone", "edge", 8080),  # the public listener behind the load balancer
}
METRICS = {
    ("ns:monitoring", "catalog", 9101),
    ("ns:monitoring", "webhook", 9201),
    ("ns:monitoring", "auth", 9301),
    ("ns:monitoring", "edge", 9901),  # Envoy's admin: /stats/prometheus
}
SANDBOX = {("auth", "sandbox", 18090), ("catalog", "sandbox", 18090), ("edge", "sandbox", 18090)}


def allowed_flows(manifests: list[Manifest], release: str = "farmlokal") -> set[Flow]:
    flows: set[Flow] = set()
    for policy in of_kind(manifests, "NetworkPolicy").values():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        target = spec["podSelector"]["matchLabels"]
        assert target["app.kubernetes.io/instance"] == release
        if "app.kubernetes.io/component" not in target:
            assert not spec.get("ingress"), "the release-wide policy must deny, not allow"
            continue
        for rule in spec.get("ingress", []):
            sources = [_source(peer, release) for peer in rule.get("from", [])] or ["anyone"]
            for port in rule["ports"]:
                assert port["protocol"] == "TCP"
                for number in range(port["port"], port.get("endPort", port["port"]) + 1):
                    flows |= {(source, target["app.kubernetes.io/component"], number) for source in sources}
    return flows


def _source(peer: dict[str, Any], release: str) -> str:
    if "namespaceSelector" in peer:
        assert "podSelector" not in peer
        return f"ns:{peer['namespaceSelector']['matchLabels']['kubernetes.io/metadata.name']}"
    labels = peer["podSelector"]["matchLabels"]
    assert labels["app.kubernetes.io/instance"] == release  # never another release's pods
    return str(labels["app.kubernetes.io/component"])


def test_default_values_allow_exactly_the_flows_and_the_dev_sandbox(
    default_manifests: list[Manifest],
) -> None:
    assert allowed_flows(default_manifests) == CALLS | METRICS | SANDBOX


def test_production_allows_exactly_the_flows(production_manifests: list[Manifest]) -> None:
    # Two catalog processes per pod: metrics on 9101 and 9102.
    assert allowed_flows(production_manifests) == CALLS | METRICS | {("ns:monitoring", "catalog", 9102)}


def test_every_pod_of_the_release_is_covered_by_the_deny_policy(default_manifests: list[Manifest]) -> None:
    (deny,) = [
        p
        for p in of_kind(default_manifests, "NetworkPolicy").values()
        if "default-deny" in p["metadata"]["name"]
    ]
    selector = deny["spec"]["podSelector"]["matchLabels"].items()
    for kind in ("Deployment", "Job"):
        for workload in of_kind(default_manifests, kind).values():
            assert selector <= workload["spec"]["template"]["metadata"]["labels"].items()


def test_the_edge_can_be_limited_to_an_ingress_controller(render: Any) -> None:
    manifests = render(
        sets=[
            "networkPolicy.edgeFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=ingress"
        ]
    )
    flows = allowed_flows(manifests)
    assert ("ns:ingress", "edge", 8080) in flows
    assert ("anyone", "edge", 8080) not in flows
