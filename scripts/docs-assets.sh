#!/usr/bin/env bash
# Vendors the API reference the edge serves at /docs into build/docs (`make docs-assets`):
# swagger-ui-dist at the version scripts/docs-assets/package-lock.json pins (npm ci, no install
# scripts), our index.html and initializer, and the OpenAPI spec as openapi.json. Nothing is
# fetched by a browser at runtime. Idempotent and quiet: npm runs only when the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=scripts/docs-assets
SPEC=docs/openapi/farmlokal.swagger.json
NPM_DIR=build/docs-npm
OUT=build/docs
ASSETS=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png)

if ! command -v npm >/dev/null 2>&1; then
    echo "docs-assets: npm is missing (Node.js 20 with npm is needed to vendor swagger-ui-dist)" >&2
    exit 1
fi

lock_stamp="$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$NPM_DIR/.stamp" 2>/dev/null || true)" != "$lock_stamp" ]; then
    echo "docs-assets: npm ci swagger-ui-dist ($SRC/package-lock.json)"
    rm -rf "$NPM_DIR"
    mkdir -p "$NPM_DIR"
    cp "$SRC/package.json" "$SRC/package-lock.json" "$NPM_DIR/"
    # --ignore-scripts: swagger-ui-dist's dependency @scarf/scarf would report the install.
    SCARF_ANALYTICS=false npm ci --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund --silent
    echo "$lock_stamp" >"$NPM_DIR/.stamp"
fi

# Built beside the output and swapped in, so an edge never reads a half-copied folder.
staging="$(mktemp -d build/docs.XXXXXX)"
trap 'rm -rf "$staging"' EXIT
for asset in "${ASSETS[@]}"; do
    cp "$NPM_DIR/node_modules/swagger-ui-dist/$asset" "$staging/"
done
cp "$SRC/index.html" "$SRC/swagger-initializer.js" "$staging/"
cp "$SPEC" "$staging/openapi.json"
node -p "require('./$NPM_DIR/node_modules/swagger-ui-dist/package.json').version" >"$staging/VERSION"
chmod 755 "$staging"
if [ -d "$OUT" ] && diff -rq "$staging" "$OUT" >/dev/null 2>&1; then
    exit 0
fi
rm -rf "$OUT.old"
[ -d "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$staging" "$OUT"
rm -rf "$OUT.old"
echo "docs-assets: $OUT (swagger-ui-dist $(cat "$OUT/VERSION")); restart the edge to serve it"
