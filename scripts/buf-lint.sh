#!/usr/bin/env bash
# Lints protos/ with buf (STANDARD rules). Installs the pinned buf into build/tools when missing and
# copies the googleapis protos the project imports from the venv's googleapis-common-protos into
# build/proto-deps (the BSR is not reachable from here). Exits non-zero on any lint error.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION="${BUF_VERSION:-1.75.0}"
TOOLS=build/tools
BUF="$TOOLS/node_modules/.bin/buf"
DEPS=build/proto-deps
PYTHON="${PYTHON:-.venv/bin/python}"
GOOGLE_PROTOS=(google/api/annotations.proto google/api/http.proto google/api/httpbody.proto)

if [ ! -x "$BUF" ] || [ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
    echo "buf-lint: installing @bufbuild/buf@$BUF_VERSION into $TOOLS" >&2
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "@bufbuild/buf@$BUF_VERSION" >&2
fi

site_packages="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -rf "$DEPS"
for proto in "${GOOGLE_PROTOS[@]}"; do
    if [ ! -f "$site_packages/$proto" ]; then
        echo "buf-lint: $proto not found in $site_packages (is googleapis-common-protos installed?)" >&2
        exit 2
    fi
    mkdir -p "$DEPS/$(dirname "$proto")"
    cp "$site_packages/$proto" "$DEPS/$proto"
done

exec "$BUF" lint "$@"
