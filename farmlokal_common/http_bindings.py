"""Which request fields a method's REST route binds in its path or body, and the query parameters that
would override them.

Envoy's transcoder fills a request field from a query parameter even when the route's path (or
body) already bound it: `GET /v1/products/1?id=2` asks for product 2, and it decodes parameter
names first, so `?%69d=2` does the same and Envoy's `ignored_query_parameters` (which compares raw
names) cannot stop it. The service refuses such a request from the original REST path the
transcoder forwards in `x-envoy-original-path`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor

__all__ = ["bound_fields", "colliding_parameter"]

_TEMPLATE_VARIABLE = re.compile(r"\{([^}=]+)")


def bound_fields(method: MethodDescriptor) -> dict[str, str]:
    """Proto and JSON names of the top-level request fields that any of the method's google.api.http
    rules binds, each with where: "path" or "body". Empty when it has none (nothing to collide with)."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return {}
    rule = options.Extensions[annotations_pb2.http]
    fields = method.input_type.fields_by_name
    where: dict[str, str] = {}
    for binding in (rule, *rule.additional_bindings):
        if binding.body == "*":  # every field the path does not bind comes from the body
            where.update(dict.fromkeys(fields, "body"))
        elif binding.body:
            where[binding.body.split(".")[0]] = "body"
    for binding in (rule, *rule.additional_bindings):
        where.update(dict.fromkeys(_path_fields(binding), "path"))
    return {
        name: place
        for field, place in where.items()
        for name in {field, fields[field].json_name if field in fields else field}
    }


def _path_fields(binding: http_pb2.HttpRule) -> list[str]:
    pattern = binding.WhichOneof("pattern")
    if pattern is None:
        return []
    template = binding.custom.path if pattern == "custom" else str(getattr(binding, pattern))
    return [variable.split(".")[0] for variable in _TEMPLATE_VARIABLE.findall(template)]


def colliding_parameter(original_path: str, bound: dict[str, str]) -> tuple[str, str, str] | None:
    """The first query parameter (fully decoded, as the transcoder reads it) whose first dotted segment
    names a bound field, as (parameter, field, "path" or "body"); None when there is none."""
    query = urlsplit(original_path).query
    for name, _ in parse_qsl(query, keep_blank_values=True):
        field = name.split(".")[0]
        if field in bound:
            return name, field, bound[field]
    return None
