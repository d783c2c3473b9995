"""What the chart renders: probes, graceful stops, security, budgets, autoscalers, hooks, secrets."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from tests.k8s.conftest import (
    PRODUCTION,
    Manifest,
    Render,
    RenderError,
    component,
    env_of,
    of_kind,
    pod_spec,
)

SERVICES = {
    "catalog": (15051, "farmlokal.catalog.v1.CatalogService", "CATALOG_"),
    "webhook": (15052, "farmlokal.webhook.v1.WebhookService", "WEBHOOK_"),
    "auth": (15053, "farmlokal.auth.v1.TokenInfoService", "AUTH_"),
}
# What the dev stack uses as passwords and secrets (devstack/dbinit.py, settings defaults, sandbox).
DEV_SECRETS = (
    "catalog_dev_pw",
    "webhooks_dev_pw",
    "auth_dev_pw",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "dev-services-secret",
    "dev-admin-secret",
    "dev-only-cursor-secret",
)


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(manifest)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("values", ["default", "production"])
def test_every_service_has_grpc_probes_on_its_health_service(
    values: str, default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> None:
    manifests = default_manifests if values == "default" else production_manifests
    deployments = {component(d): d for d in of_kind(manifests, "Deployment").values()}
    for name, (port, health, _) in SERVICES.items():
        (container,) = pod_spec(deployments[name])["containers"]
        for probe in ("startupProbe", "readinessProbe"):
            assert container[probe]["grpc"] == {"port": port, "service": health}, (name, probe)
        assert container["livenessProbe"]["grpc"] == {"port": port}, name  # grpc.health.v1, the server
    (envoy,) = pod_spec(deployments["edge"])["containers"]
    assert envoy["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    assert envoy["livenessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}


def test_termination_grace_covers_prestop_and_the_services_grace(render: Render) -> None:
    manifests = render(sets=["services.webhook.graceSeconds=25", "preStopSeconds=7"])
    for deployment in of_kind(manifests, "Deployment").values():
        name = component(deployment)
        if name not in SERVICES:
            continue
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        grace = float(env_of(container)[f"{SERVICES[name][2]}GRACE_SECONDS"])
        assert grace == (25 if name == "webhook" else 10)
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 7}}
        assert spec["terminationGracePeriodSeconds"] == 7 + grace + 5, name


@pytest.mark.parametrize("values", ["default", "production"])
def test_containers_are_non_root_read_only_without_capabilities_with_resources(
    values: str, default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> None:
    manifests = default_manifests if values == "default" else production_manifests
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where


def test_every_deployment_has_a_disruption_budget_and_spreads_over_nodes_and_zones(
    default_manifests: list[Manifest], production_manifests: list[Manifest]
) -> None:
    for manifests in (default_manifests, production_manifests):
        budgets = list(of_kind(manifests, "PodDisruptionBudget").values())
        for deployment in of_kind(manifests, "Deployment").values():
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
            assert len(matching) == 1, deployment["metadata"]["name"]
            keys = {c["topologyKey"] for c in pod_spec(deployment).get("topologySpreadConstraints", [])}
            if component(deployment) != "sandbox":
                assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_services_and_edge_scale_on_cpu(production_manifests: list[Manifest]) -> None:
    deployments = of_kind(production_manifests, "Deployment")
    scalers = of_kind(production_manifests, "HorizontalPodAutoscaler").values()
    targets = {h["spec"]["scaleTargetRef"]["name"]: h for h in scalers}
    assert set(targets) == set(deployments)
    for name, scaler in targets.items():
        assert "replicas" not in deployments[name]["spec"], name  # the autoscaler owns it
        (metric,) = scaler["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert scaler["spec"]["minReplicas"] >= 2


def test_grpc_services_are_headless_and_the_edge_is_a_load_balancer(
    default_manifests: list[Manifest],
) -> None:
    services = {component(s): s for s in of_kind(default_manifests, "Service").values()}
    for name in SERVICES:
        assert services[name]["spec"]["clusterIP"] == "None", name
    assert services["edge"]["spec"]["type"] == "LoadBalancer"
    assert services["edge"]["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_edge_rolls_when_its_config_changes(render: Render, default_manifests: list[Manifest]) -> None:
    def checksum_and_config(manifests: list[Manifest]) -> tuple[str, str]:
        (config,) = of_kind(manifests, "ConfigMap").values()
        edge = next(d for d in of_kind(manifests, "Deployment").values() if component(d) == "edge")
        annotation = edge["spec"]["template"]["metadata"]["annotations"]["checksum/edge-config"]
        return annotation, config["data"]["envoy.yaml"]

    checksum, text = checksum_and_config(default_manifests)
    assert checksum == hashlib.sha256(text.encode()).hexdigest()
    changed, changed_text = checksum_and_config(render(sets=["edge.jwt.issuer=https://other.example/"]))
    assert '"issuer": "https://other.example/"' in changed_text
    assert changed != checksum


def test_migrations_are_hooks_one_job_per_service_each_its_own_user(
    production_manifests: list[Manifest],
) -> None:
    jobs = of_kind(production_manifests, "Job")
    assert len(jobs) == 3
    users = {}
    for job in jobs.values():
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        (container,) = pod_spec(job)["containers"]
        assert container["command"][-1] == "migrate"
        (url,) = [v for k, v in env_of(container).items() if k.endswith("_DATABASE_URL")]
        users[container["command"][2]] = re.match(r"mysql\+mysqldb://([^:]+):", url).group(1)  # type: ignore[union-attr]
    assert users == {
        "catalog_service": "catalog_migrate",
        "webhook_service": "webhooks_migrate",
        "auth_service": "auth_migrate",
    }
    order = sorted(jobs.values(), key=lambda j: int(j["metadata"]["annotations"]["helm.sh/hook-weight"]))
    assert [pod_spec(j)["containers"][0]["command"][2] for j in order] == [
        "auth_service",
        "webhook_service",
        "catalog_service",
    ]


def test_production_values_hold_no_dev_secret_and_reference_only_the_existing_secret(
    production_manifests: list[Manifest],
) -> None:
    text = repr(production_manifests)
    for secret in DEV_SECRETS:
        assert secret not in text, secret
    assert not of_kind(production_manifests, "Secret")
    assert not [m for m in production_manifests if "sandbox" in m["metadata"]["name"]]
    referenced = {
        value["secretKeyRef"]["name"]
        for workload in workloads(production_manifests)
        for container in containers(workload)
        for value in env_of(container).values()
        if isinstance(value, dict) and "secretKeyRef" in value
    }
    assert referenced == {"farmlokal-secrets"}


@pytest.mark.parametrize(
    ("assignment", "refusal"),
    [
        ("dev.enabled=true", "dev.enabled must be false"),
        ("secrets.existingSecret=", "secrets.existingSecret is required"),
        ("services.catalog.env.CATALOG_CURSOR_SECRET=dev-only-cursor-secret-change-me", "dev secret"),
        (
            "services.webhook.env.WEBHOOK_SOURCE_SECRETS=supplier=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "dev secret",
        ),
        ("edge.jwt.jwksUri=", "edge.jwt.jwksUri is required"),
        ("oauth.tokenUrl=", "oauth.tokenUrl is required"),
    ],
)
def test_production_refuses_dev_secrets_and_the_sandbox(
    render: Render, assignment: str, refusal: str
) -> None:
    with pytest.raises(RenderError, match=re.escape(refusal)):
        render([PRODUCTION], [assignment])


def test_default_values_are_a_dev_install(default_manifests: list[Manifest]) -> None:
    (secret,) = of_kind(default_manifests, "Secret").values()
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 1  # before the migrations
    assert {component(d) for d in of_kind(default_manifests, "Deployment").values()} == {
        "catalog",
        "webhook",
        "auth",
        "edge",
        "sandbox",
    }


def test_redis_sentinel_and_the_replica_reach_the_services(production_manifests: list[Manifest]) -> None:
    deployments = {component(d): d for d in of_kind(production_manifests, "Deployment").values()}
    for name, (_, _, prefix) in SERVICES.items():
        env = env_of(pod_spec(deployments[name])["containers"][0])
        assert env[f"{prefix}REDIS_URL"].startswith(
            "redis+sentinel://:$(FARMLOKAL_REDIS_PASSWORD)@redis-sentinel-0"
        )
        assert env[f"{prefix}REDIS_MASTER_NAME"] == "farmlokal"
        assert len(env[f"{prefix}REDIS_SENTINELS"].split(",")) == 3
    catalog = env_of(pod_spec(deployments["catalog"])["containers"][0])
    assert "@mysql-primary." in catalog["CATALOG_DATABASE_URL"]
    assert "@mysql-replica." in catalog["CATALOG_DATABASE_READ_URL"]
    assert catalog["CATALOG_DATABASE_URL"].startswith("mysql+mysqldb://catalog_svc:$(FARMLOKAL_DB_PASSWORD)@")
