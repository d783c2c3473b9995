"""The public REST routes as the protos declare them (google.api.http), for tests that must cover
every route and field: a new route or field is covered without an edit here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from farmlokal.auth.v1 import auth_pb2
from farmlokal.catalog.v1 import catalog_pb2
from farmlokal.webhook.v1 import webhook_pb2
from google.api import annotations_pb2
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from farmlokal_common import api_surface

# A plausible value for each path variable, so only the field under test is bad.
PATH_DEFAULTS = {"id": "1", "source": "supplier", "event_id": "evt_1"}


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    verb: str  # get, post, delete, ...
    template: str  # /v1/products/{id}
    body: str  # "", "*" or a field name
    admin_scope: str | None

    @property
    def path_fields(self) -> list[str]:
        return re.findall(r"\{([^}=]+)", self.template)

    def path(self, **values: str) -> str:
        """The template with every variable filled (already percent-encoded values)."""
        return re.sub(
            r"\{([^}=]+)[^}]*\}", lambda m: values.get(m.group(1), PATH_DEFAULTS[m.group(1)]), self.template
        )

    def __str__(self) -> str:
        return f"{self.verb.upper()} {self.template}"


def public_routes() -> Iterator[Route]:
    for service in api_surface.services_of(catalog_pb2, webhook_pb2, auth_pb2):
        if not api_surface.is_public(service):
            continue
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb is None or verb == "custom":
                continue
            yield Route(method, verb, getattr(rule, verb), rule.body, api_surface.admin_scope(service))


def string_fields(route: Route) -> Iterator[FieldDescriptor]:
    """Top-level string fields of the route's request (nested ones are covered by unit tests)."""
    for field in route.method.input_type.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            yield field
