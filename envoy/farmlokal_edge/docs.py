"""The API reference at /docs: Swagger UI and the OpenAPI spec, answered by Envoy itself from vendored files.

`make docs-assets` (scripts/docs-assets.sh) puts swagger-ui-dist at its pinned version, our page and
the spec into build/docs; the edge serves each file as a `direct_response` body that Envoy reads when
it loads the config, so nothing is fetched from anywhere at runtime. An edge rendered without that
folder (or before it was built) answers /docs with a 503 that says how to build it.

A /docs request is routed by its path before the transcoder runs, like every REST request; its route
turns the transcoder off (else it would answer 404 for a path no RPC maps) and the Lua status
filter, so the router sends the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from farmlokal_edge.names import LUA_FILTER, TRANSCODER_FILTER

DOCS_PREFIX = "/docs"
SPEC_PATH = "/docs/openapi.json"
# swagger-ui-bundle.js is 1.7 MB (5.35.0); Envoy's default limit on a direct response body is 4 KB.
MAX_DOCS_FILE_BYTES = 4 * 1024 * 1024
NOT_BUILT = (
    "The API reference is not built on this edge: run `make docs-assets` (it vendors Swagger UI and"
    " the OpenAPI spec into build/docs), then restart the edge (`make down && make up`)."
)
NO_CACHE = "no-cache"
VENDORED = "public, max-age=3600"  # pinned swagger-ui-dist files change only on an upgrade
# The page loads only its own files and calls only this origin ("Try it out"); Swagger UI sets
# inline styles, and its icons are data: URLs.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


HTML = "text/html; charset=utf-8"
# URL path -> (file in the docs folder, content type, cache-control).
DOCS_FILES: dict[str, tuple[str, str, str]] = {
    "/docs": ("index.html", HTML, NO_CACHE),
    "/docs/": ("index.html", HTML, NO_CACHE),
    "/docs/index.html": ("index.html", HTML, NO_CACHE),
    "/docs/swagger-initializer.js": ("swagger-initializer.js", "text/javascript; charset=utf-8", NO_CACHE),
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", VENDORED),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8", VENDORED),
    "/docs/favicon-32x32.png": ("favicon-32x32.png", "image/png", VENDORED),
    SPEC_PATH: ("openapi.json", "application/json", NO_CACHE),
}
_OFF = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
PASS_THROUGH = {TRANSCODER_FILTER: _OFF, LUA_FILTER: _OFF}


def missing_files(docs_dir: Path | None) -> list[str]:
    """The files the routes need that the folder lacks (all of them when there is no folder)."""
    names = sorted({name for name, _, _ in DOCS_FILES.values()})
    if docs_dir is None:
        return names
    return [name for name in names if not (docs_dir / name).is_file()]


def with_docs(connection_manager: dict[str, Any], docs_dir: Path | None) -> dict[str, Any]:
    """The HTTP connection manager with the /docs routes first (before the REST entry routes, which
    catch every path) and local-reply mappers that send the files as they are."""
    config = connection_manager["typed_config"]
    routes = config["route_config"]
    routes["virtual_hosts"][0]["routes"][:0] = docs_routes(docs_dir)
    if not missing_files(docs_dir):
        routes["max_direct_response_body_size_bytes"] = MAX_DOCS_FILE_BYTES
        config["local_reply_config"]["mappers"][:0] = _verbatim_mappers()
    return connection_manager


def _verbatim_mappers() -> list[dict[str, Any]]:
    """A direct response is a local reply, so the edge's JSON error format would wrap the file: a
    200 on a docs path keeps its body, with the file's content type (one mapper per type)."""
    paths_by_type: dict[str, list[str]] = {}
    for path, (_, content_type, _) in DOCS_FILES.items():
        paths_by_type.setdefault(content_type, []).append(re.escape(path))
    ok = {
        "status_code_filter": {
            "comparison": {"op": "EQ", "value": {"default_value": 200, "runtime_key": "edge.docs.ok"}}
        }
    }
    return [
        {
            "filter": {"and_filter": {"filters": [ok, _path_filter(paths)]}},
            "body_format_override": {
                "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
                "content_type": content_type,
            },
            "headers_to_add": [_header("x-content-type-options", "nosniff")],
        }
        for content_type, paths in paths_by_type.items()
    ]


def _path_filter(paths: list[str]) -> dict[str, Any]:
    regex = f"({'|'.join(paths)})([?].*)?"
    return {"header_filter": {"header": {"name": ":path", "string_match": {"safe_regex": {"regex": regex}}}}}


def docs_routes(docs_dir: Path | None) -> list[dict[str, Any]]:
    if docs_dir is None or missing_files(docs_dir):
        return [_answer("docs_not_built", {"path_separated_prefix": DOCS_PREFIX}, 503, NOT_BUILT)]
    reads = [{"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}]
    routes = [
        {
            "name": f"docs {path}",
            "match": {"path": path, "headers": reads},
            "direct_response": {"status": 200, "body": {"filename": str((docs_dir / name).resolve())}},
            "response_headers_to_add": _headers(cache, page=content_type == HTML),
            "typed_per_filter_config": PASS_THROUGH,
        }
        for path, (name, content_type, cache) in DOCS_FILES.items()
    ]
    routes.append(
        _answer(
            "docs_not_found", {"path_separated_prefix": DOCS_PREFIX}, 404, "no such page in the API reference"
        )
    )
    return routes


def _answer(name: str, match: dict[str, Any], status: int, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "match": match,
        "direct_response": {"status": status, "body": {"inline_string": text}},
        "typed_per_filter_config": PASS_THROUGH,
    }


def _headers(cache: str, page: bool) -> list[dict[str, Any]]:
    headers = [_header("cache-control", cache), _header("x-content-type-options", "nosniff")]
    return [*headers, _header("content-security-policy", PAGE_POLICY)] if page else headers


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
