#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests, some
# against throwaway PostgreSQL and MariaDB servers), tsc, and the Bun tests of the JS packages, the
# admin shell (in headless Chromium, against the target/debug/buntime that cargo test built) and
# the example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh
scripts/system-deps.sh
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> tsc (packages, example plugins, plugin host)"
"$BUN" x tsc --noEmit -p tsconfig.json

echo "==> bun test (packages, the admin shell and the plugin UIs with their browser tests, example plugins)"
for dir in packages/* apps/cpanel plugins/*/ui examples/plugins/*; do
  [ -d "$dir" ] || continue
  if [ -n "$(find "$dir" -name '*.test.ts' -not -path '*/node_modules/*' -print -quit)" ]; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
