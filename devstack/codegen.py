"""Generates the Python gRPC stubs and Envoy's descriptor set from protos/ into build/gen."""

from __future__ import annotations

import pathlib
import site
import sys
import sysconfig

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
GEN_DIR = ROOT / "build" / "gen"
DESCRIPTOR = GEN_DIR / "api.pb"
# Extra google protos that must be in Envoy's descriptor so error details render.
EXTRA_DESCRIPTOR_PROTOS = ["google/rpc/error_details.proto", "google/rpc/status.proto"]


def _google_proto_root() -> pathlib.Path:
    """Where googleapis-common-protos and grpc_tools ship their .proto sources."""
    for base in [sysconfig.get_paths()["purelib"], *site.getsitepackages()]:
        if (pathlib.Path(base) / "google" / "api" / "annotations.proto").exists():
            return pathlib.Path(base)
    raise SystemExit("googleapis-common-protos is not installed")


def _grpc_tools_include() -> pathlib.Path:
    import grpc_tools

    return pathlib.Path(grpc_tools.__file__).parent / "_proto"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))


def generate() -> None:
    GEN_DIR.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{PROTO_DIR}", f"-I{_google_proto_root()}", f"-I{_grpc_tools_include()}"]
    files = proto_files()
    rc = protoc.main(
        [
            "protoc",
            *includes,
            f"--python_out={GEN_DIR}",
            f"--pyi_out={GEN_DIR}",
            f"--grpc_python_out={GEN_DIR}",
            *files,
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed generating stubs ({rc})")
    rc = protoc.main(
        [
            "protoc",
            *includes,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={DESCRIPTOR}",
            *files,
            *EXTRA_DESCRIPTOR_PROTOS,
        ]
    )
    if rc != 0:
        raise SystemExit(f"protoc failed writing the descriptor set ({rc})")
    # `import farmlokal.catalog.v1` works because the editable install lists build/gen
    # (pyproject: [tool.hatch.build] dev-mode-dirs).


if __name__ == "__main__":
    generate()
    print(f"generated {len(proto_files())} protos into {GEN_DIR.relative_to(ROOT)}", file=sys.stderr)
