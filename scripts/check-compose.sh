#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker daemon. With the compose plugin: `docker compose
# config -q`. Without it (our machines): scripts/check-compose.go, built against compose-go, the
# loader the plugin itself uses (schema, interpolation, references), pinned below and cached in
# build/tools. Usage: scripts/check-compose.sh [compose-file]
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE_FILE="${1:-docker-compose.yml}"
COMPOSE_GO_VERSION="v2.16.2"

if docker compose version >/dev/null 2>&1; then
    docker compose -f "$COMPOSE_FILE" config -q
    echo "$COMPOSE_FILE: valid (docker compose config)"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "check-compose: neither the docker compose plugin nor Go is installed; cannot validate" >&2
    exit 1
fi

tool="build/tools/check-compose-$COMPOSE_GO_VERSION"
if [ ! -x "$tool" ] || [ scripts/check-compose.go -nt "$tool" ]; then
    workdir="$(mktemp -d)"
    trap 'rm -rf "$workdir"' EXIT
    cp scripts/check-compose.go "$workdir/main.go"
    (
        cd "$workdir"
        go mod init farmlokal/check-compose >/dev/null 2>&1
        go get "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" >/dev/null 2>&1
        go mod tidy >/dev/null 2>&1
    ) || { echo "check-compose: could not fetch compose-go $COMPOSE_GO_VERSION (Go module proxy)" >&2; exit 1; }
    mkdir -p build/tools
    (cd "$workdir" && go build -o "$OLDPWD/$tool" .)
fi
"$tool" "$COMPOSE_FILE"
