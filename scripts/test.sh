#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests) and
# the Bun tests of the JS packages and example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> bun test (packages and example plugins)"
for dir in packages/* examples/plugins/*; do
  [ -d "$dir" ] || continue
  if ls "$dir"/*.test.ts >/dev/null 2>&1; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
