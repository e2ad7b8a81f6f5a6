#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests) and
# the Bun tests of the JS packages and example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh

# The metrics tests validate the Prometheus exposition with promtool (Debian's `prometheus`
# package). Under CI (`CI` set) they fail without it, elsewhere they skip. Install it when missing
# and we can (root + apt-get), without starting the Prometheus service the package ships.
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing promtool for the metrics tests (apt-get install prometheus; no service is started)"
    policy_rc=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy_rc" ]; then
      # Debian's convention for "do not start services from package scripts".
      printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod +x "$policy_rc" && added_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ -n "$added_policy" ] && rm -f "$policy_rc"
    command -v promtool >/dev/null 2>&1 || { echo "prometheus was installed but promtool is not found" >&2; exit 1; }
  else
    echo "==> promtool is not installed: the metrics exposition checks will skip (fail under CI); install it with: apt-get install -y --no-install-recommends prometheus"
  fi
fi
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> tsc (packages, example plugins, plugin host)"
"$BUN" x tsc --noEmit -p tsconfig.json

echo "==> bun test (packages and example plugins)"
for dir in packages/* examples/plugins/*; do
  [ -d "$dir" ] || continue
  if [ -n "$(find "$dir" -name '*.test.ts' -not -path '*/node_modules/*' -print -quit)" ]; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
