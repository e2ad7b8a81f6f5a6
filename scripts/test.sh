#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests) and
# the Bun tests of the JS packages, the admin shell (in headless Chromium, against the
# target/debug/buntime that cargo test built) and the example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> tsc (packages, example plugins, plugin host)"
"$BUN" x tsc --noEmit -p tsconfig.json

# The admin shell's browser tests drive Debian's Chromium (never a downloaded browser build).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing chromium from Debian for the admin UI's browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
      || echo "==> could not install chromium: the browser tests skip, or fail under CI"
  else
    echo "==> chromium is not installed (and this is not root): the browser tests skip, or fail under CI"
  fi
else
  echo "==> chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
fi

echo "==> bun test (packages, the admin shell with its browser tests, example plugins)"
for dir in packages/* apps/cpanel examples/plugins/*; do
  [ -d "$dir" ] || continue
  if [ -n "$(find "$dir" -name '*.test.ts' -not -path '*/node_modules/*' -print -quit)" ]; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
