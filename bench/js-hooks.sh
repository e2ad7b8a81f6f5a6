#!/usr/bin/env bash
# The cost of TypeScript onRequest hooks in front of a warm worker app, in one run: the same app
# through the same release binary with 0, 1 and 10 no-op JS `onRequest` plugins (wrk, 1 thread).
# Consecutive JS hooks of one host run in one round trip to it, so 10 hooks should cost about
# what 1 costs. Env: DURATION (5s), CONNS (32), PORT_BASE (18170).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-5s}"
CONNS="${CONNS:-32}"
PORT_BASE="${PORT_BASE:-18170}"
BUN="$ROOT/.tools/node_modules/bun/bin/bun.exe"
[ -x "$BUN" ] || SKIP_CARGO_BUILD=1 scripts/setup.sh >&2
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
echo "==> building the runtime (release)" >&2
cargo build --release -q --bin buntime
BIN="$ROOT/target/release/buntime"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One warm app, recycled never, so only the hooks differ between runs.
mkdir -p "$WORK/apps/noop"
echo 'export default { fetch: () => new Response("ok") };' > "$WORK/apps/noop/index.ts"
printf 'ttl: 1h\nidleTimeout: 1h\nmaxRequests: 1000000000\n' > "$WORK/apps/noop/manifest.yaml"

# plugins-N: N no-op JS onRequest plugins.
for n in 0 1 10; do
  mkdir -p "$WORK/plugins-$n"
  for i in $(seq 1 "$n"); do
    d="$WORK/plugins-$n/hook-$i"
    mkdir -p "$d"
    printf 'name: hook-%s\n' "$i" > "$d/manifest.yaml"
    echo 'export default { onRequest() {} };' > "$d/plugin.js"
  done
done

run() {
  local n="$1" port=$((PORT_BASE + $1))
  (cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$port" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
    RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_PLUGIN_DIRS="$WORK/plugins-$n" RUNTIME_STATE_DIR="$WORK/state-$n" \
    BUNTIME_BUN="$BUN" "$BIN" serve >"$WORK/runtime-$n.log" 2>&1) &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/noop/"; then break; fi
    sleep 0.1
  done
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/noop/"; done
  local out rps p50 p99
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/noop/")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$n $rps $p50 $p99"
}

echo "JS onRequest hooks in front of a warm app ($DURATION per run, wrk -t1 -c$CONNS, one machine, one run)"
echo
echo "| JS onRequest hooks | req/s | p50 | p99 | ratio to 0 hooks |"
echo "|---|---|---|---|---|"
base=""
for n in 0 1 10; do
  read -r _ rps p50 p99 < <(run "$n")
  [ -n "$base" ] || base="$rps"
  ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  echo "| $n | $rps | $p50 | $p99 | $ratio |"
done
echo
echo "Goal (issue 10): 10 hooks ≥ 0.60 of 0 hooks."
