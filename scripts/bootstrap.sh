#!/usr/bin/env bash
# Installs what the dev stack and the tests need, only where it is missing: the Debian packages
# (MariaDB, Redis, the headers mysqlclient builds against; Prometheus/promtool and Chromium for
# tests/observability and `make check-rules`), uv, and the locked .venv.
# Idempotent and quiet when there is nothing to do; `make` and .ci/run call it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
UV_VERSION="${UV_VERSION:-0.13.9}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo --preserve-env=DEBIAN_FRONTEND "$@"
    else echo "bootstrap: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for pkg in mariadb-server redis-server libmariadb-dev pkg-config prometheus chromium; do
    installed "$pkg" || missing+=("$pkg")
done
command -v cc >/dev/null 2>&1 || missing+=(gcc)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]} (apt)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if command -v uv >/dev/null 2>&1; then
    UV=(uv)
elif "$PYTHON" -m uv --version >/dev/null 2>&1; then
    UV=("$PYTHON" -m uv)
else
    echo "bootstrap: installing uv $UV_VERSION (pip)"
    "$PYTHON" -m pip install --quiet "uv==$UV_VERSION" 2>/dev/null \
        || "$PYTHON" -m pip install --quiet --break-system-packages "uv==$UV_VERSION"
    UV=("$PYTHON" -m uv)
fi

# Never let uv fetch a Python build: the machine's 3.11 is the one to use. No --python here: an
# explicit interpreter path that differs from the one .venv was made with recreates .venv.
export UV_PYTHON_DOWNLOADS=never
"${UV[@]}" sync --frozen --quiet
