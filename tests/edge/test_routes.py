"""Routes: a route per public method with its timeout and retry policy, the REST entry route's header
hygiene, and the routes that refuse (CONNECT, a bad grpc-timeout)."""

from __future__ import annotations

from farmlokal_edge import EdgeConfig
from farmlokal_edge.config import DEFAULT_TIMEOUT_S, READ_TIMEOUT_S
from tests.edge.conftest import method_routes, routes


def test_every_public_method_has_its_own_route(cfg: EdgeConfig) -> None:
    names = set(method_routes(cfg))
    assert "farmlokal.catalog.v1.CatalogService/ListProducts" in names
    assert "farmlokal.webhook.v1.WebhookAdminService/CreateSubscription" in names
    assert not any("ProductWriteService" in name for name in names)


def test_route_timeouts_by_kind_and_by_declaration(cfg: EdgeConfig) -> None:
    actions = {name: route["route"] for name, route in method_routes(cfg).items()}
    assert actions["farmlokal.catalog.v1.CatalogService/ListProducts"]["timeout"] == f"{READ_TIMEOUT_S}s"
    assert actions["farmlokal.webhook.v1.WebhookService/ReceiveWebhook"]["timeout"] == f"{DEFAULT_TIMEOUT_S}s"
    # declared in the protos with (farmlokal.api.v1.timeout_seconds)
    assert actions["farmlokal.catalog.v1.SupplierService/SyncSupplier"]["timeout"] == "60s"
    assert actions["farmlokal.auth.v1.TokenInfoService/GetTokenInfo"]["timeout"] == "15s"
    for name, action in actions.items():
        assert action["max_stream_duration"]["grpc_timeout_header_max"] == action["timeout"], name


def test_only_reads_are_retried_and_never_on_a_status_the_service_chose(cfg: EdgeConfig) -> None:
    retried = {
        name: r["route"]["retry_policy"]
        for name, r in method_routes(cfg).items()
        if "retry_policy" in r["route"]
    }
    assert "farmlokal.catalog.v1.CatalogService/GetProduct" in retried
    for write in (
        "farmlokal.webhook.v1.WebhookService/ReceiveWebhook",
        "farmlokal.catalog.v1.SupplierService/SyncSupplier",
        "farmlokal.webhook.v1.WebhookAdminService/CreateSubscription",
        "farmlokal.webhook.v1.WebhookAdminService/RetryEvent",
    ):
        assert write not in retried
    for name, policy in retried.items():
        assert set(policy["retry_on"].split(",")) == {"connect-failure", "refused-stream", "reset"}, name


def test_rest_requests_lose_every_grpc_header_before_transcoding(cfg: EdgeConfig) -> None:
    (entry,) = [r for r in routes(cfg) if r["name"] == "rest_before_transcoding"]
    mutations = entry["typed_per_filter_config"]["envoy.filters.http.header_mutation"]["mutations"][
        "request_mutations"
    ]
    assert {"remove_on_match": {"key_matcher": {"prefix": "grpc-"}}} in mutations
    assert routes(cfg)[-1] is not None and routes(cfg)[-1]["name"] == "rest_before_transcoding"


def test_refusing_routes_come_before_any_method_route(cfg: EdgeConfig) -> None:
    names = [r["name"] for r in routes(cfg)]
    first_method = min(i for i, name in enumerate(names) if name.startswith("farmlokal."))
    assert names.index("connect_refused") < first_method
    assert names.index("grpc_bad_timeout") < first_method
