"""Generates the OpenAPI v2 spec of the public REST API from the annotated protos (docs/openapi/).

`protoc-gen-openapiv2` (grpc-gateway) is installed pinned into build/tools/bin with `go install`.
Internal-only protos (`*_internal.proto`) are left out: they are not on the public edge.
(Every internal service lives in one; `farmlokal.api.v1.public` on the services is what the edge reads.)
`--check` regenerates into a temporary folder and fails when the committed spec has drifted.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from grpc_tools import protoc

from devstack.codegen import PROTO_DIR, ROOT, _google_proto_root, _grpc_tools_include, proto_files

PLUGIN_MODULE = "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2"
PLUGIN_VERSION = "v2.27.3"
TOOLS = ROOT / "build" / "tools" / "bin"
PLUGIN = TOOLS / "protoc-gen-openapiv2"
SPEC_DIR = ROOT / "docs" / "openapi"
SPEC_NAME = "farmlokal"
TITLE = "FarmLokal API"
DESCRIPTION = (
    "The public REST API of the FarmLokal marketplace backend: the catalog (listing, search, categories),"
    " inbound supplier webhooks, token metadata, and the admin routes (bearer JWT with a scope)."
)


def ensure_plugin() -> Path:
    if not PLUGIN.exists():
        TOOLS.mkdir(parents=True, exist_ok=True)
        print(f"installing protoc-gen-openapiv2 {PLUGIN_VERSION} (go install)", file=sys.stderr)
        subprocess.run(
            ["go", "install", f"{PLUGIN_MODULE}@{PLUGIN_VERSION}"],
            env={**os.environ, "GOBIN": str(TOOLS)},
            check=True,
        )
    return PLUGIN


def generate(out_dir: Path) -> Path:
    plugin = ensure_plugin()
    out_dir.mkdir(parents=True, exist_ok=True)
    every = proto_files()
    # farmlokal/api/ holds only the options the protos declare their exposure with.
    public = [f for f in every if not f.endswith("_internal.proto") and not f.startswith("farmlokal/api/")]
    # protoc-gen-openapiv2 wants a Go import path per file; these are never used for Go code.
    go_paths = ",".join(f"M{f}=farmlokal/{f.rsplit('/', 1)[0]}" for f in every)
    options = (
        "allow_merge=true,merge_file_name="
        + SPEC_NAME
        + ",json_names_for_fields=false,omit_enum_default_value=true,"
        + go_paths
    )
    rc = protoc.main(
        [
            "protoc",
            f"-I{PROTO_DIR}",
            f"-I{_google_proto_root()}",
            f"-I{_grpc_tools_include()}",
            f"--plugin=protoc-gen-openapiv2={plugin}",
            f"--openapiv2_out={out_dir}",
            f"--openapiv2_opt={options}",
            *public,
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc-gen-openapiv2 failed ({rc})")
    spec_path = out_dir / f"{SPEC_NAME}.swagger.json"
    # The merged spec takes its title from the first file and has no version: name the API instead.
    spec = json.loads(spec_path.read_text())
    spec["info"] = {"title": TITLE, "version": _project_version(), "description": DESCRIPTION}
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    return spec_path


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = generate(Path(tmp))
            committed = SPEC_DIR / fresh.name
            if not committed.exists() or not filecmp.cmp(fresh, committed, shallow=False):
                print(
                    f"{committed.relative_to(ROOT)} is out of date: run `make openapi` and commit it",
                    file=sys.stderr,
                )
                return 1
        print("OpenAPI spec is up to date", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        SPEC_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fresh, SPEC_DIR / fresh.name)
    print(f"wrote {(SPEC_DIR / fresh.name).relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
