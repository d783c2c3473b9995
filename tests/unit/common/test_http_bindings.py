"""Fields a REST route binds in its path or body, and query parameters that collide with them
(farmlokal_common.http_bindings)."""

from __future__ import annotations

import pytest
from farmlokal.catalog.v1 import catalog_pb2 as pb
from farmlokal.webhook.v1 import webhook_pb2 as wpb

from farmlokal_common.http_bindings import bound_fields, colliding_parameter

CATALOG = pb.DESCRIPTOR.services_by_name["CatalogService"]
WEBHOOK = wpb.DESCRIPTOR.services_by_name["WebhookService"]
ADMIN = wpb.DESCRIPTOR.services_by_name["WebhookAdminService"]


def test_path_and_body_bindings() -> None:
    assert bound_fields(CATALOG.methods_by_name["GetProduct"]) == {"id": "path"}
    assert bound_fields(CATALOG.methods_by_name["ListProducts"]) == {}
    assert bound_fields(WEBHOOK.methods_by_name["ReceiveWebhook"]) == {"source": "path", "body": "body"}
    assert bound_fields(ADMIN.methods_by_name["GetEvent"]) == {
        "source": "path",
        "event_id": "path",
        "eventId": "path",  # the JSON name, which the transcoder also accepts
    }


def test_body_star_binds_every_field_the_path_does_not() -> None:
    create = bound_fields(ADMIN.methods_by_name["CreateSubscription"])
    assert create == {"url": "body", "event_types": "body", "eventTypes": "body", "description": "body"}
    retry = bound_fields(ADMIN.methods_by_name["RetryEvent"])
    assert retry["source"] == "path" and retry["event_id"] == "path"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/products/1?id=2", ("id", "id", "path")),
        ("/v1/products/1?%69d=2", ("id", "id", "path")),  # names are decoded as the transcoder does
        ("/v1/products/1?limit=3&i%64=2", ("id", "id", "path")),
        ("/v1/products/1?id.value=2", ("id.value", "id", "path")),
        ("/v1/products/1?id", ("id", "id", "path")),
        ("/v1/products/1", None),
        ("/v1/products/1?", None),
        ("/v1/products/1?identity=2&ids=3", None),
    ],
)
def test_colliding_parameter(path: str, expected: tuple[str, str, str] | None) -> None:
    assert colliding_parameter(path, {"id": "path"}) == expected
