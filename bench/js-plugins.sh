#!/usr/bin/env bash
# JS plugin figures in one run: the hello route through the runtime vs Bun.serve directly (wrk),
# CPU per request of every process and the ratio's ceiling here, the added p50 of one no-op JS
# onRequest hook against a bare echo to the same host, and the time to build 5 JS plugins.
# Env: BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
[ -x .tools/node_modules/bun/bin/bun.exe ] && [ -d node_modules/hono ] || SKIP_CARGO_BUILD=1 scripts/setup.sh >&2
cargo build --release -p buntime-js --example js-plugins-bench >&2
exec target/release/examples/js-plugins-bench
