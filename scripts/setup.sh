#!/usr/bin/env bash
# Sets up everything Buntime needs on a fresh machine: a pinned Bun (from the npm registry, into
# .tools/), the JS packages of the examples, the admin shell's and the plugin UIs' bundles, and a release build of the runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION="${BUN_VERSION:-1.4.5}"
BUN=".tools/node_modules/bun/bin/bun.exe"

if [ ! -x "$BUN" ] || [ "$("$BUN" --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  echo "==> installing bun@$BUN_VERSION into .tools/"
  command -v npm >/dev/null || { echo "npm is required to install Bun (apt-get install npm)" >&2; exit 1; }
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >/dev/null
fi
mkdir -p .tools/bin
ln -sf ../node_modules/bun/bin/bun.exe .tools/bin/bun
echo "==> bun $("$BUN" --version) (add $PWD/.tools/bin to PATH to run \`bun\` directly)"

# JS workspaces (packages/, examples/): installed only when present.
if [ -f package.json ]; then
  echo "==> installing JS dependencies"
  "$BUN" install --frozen-lockfile 2>/dev/null || "$BUN" install
fi

# The admin shell served at /cpanel (apps/cpanel/dist, not committed).
if [ -f apps/cpanel/build.ts ]; then
  echo "==> building the admin shell (apps/cpanel/dist)"
  "$BUN" apps/cpanel/build.ts
fi

# The bundled plugins' UIs (plugins/*/ui/dist, not committed), served at each plugin's base.
if [ -f scripts/build-plugin-uis.ts ]; then
  echo "==> building the plugin UIs (plugins/*/ui/dist)"
  "$BUN" scripts/build-plugin-uis.ts
fi

if [ "${SKIP_CARGO_BUILD:-0}" != "1" ]; then
  echo "==> building the runtime (release)"
  cargo build --release --bin buntime
fi
