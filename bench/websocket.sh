#!/usr/bin/env bash
# Benchmarks WebSocket echo to a worker app through Buntime against the same app on Bun.serve.
#
# The app is a Bun.serve-style echo (`server.upgrade()` + `websocket.message` sends the message
# back). The client is Bun's own WebSocket (bench/ws-client.ts): CONNS sockets, each in a closed
# loop (send SIZE bytes, wait for the echo), for DURATION seconds, after a warm-up. Prints
# messages/s and p50/p99 round trip for `direct` (the app on Bun.serve) and `runtime` (the real
# `buntime` binary, default app manifest, the bundled plugins off), and the ratio runtime/direct,
# both measured in this run. Client, runtime and app share this machine's cores.
# Env: DURATION (10), CONNS (50), SIZE (32).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-50}"
SIZE="${SIZE:-32}"
RT_PORT="${RT_PORT:-18170}"
DIRECT_PORT="${DIRECT_PORT:-18190}"
BUN="$ROOT/.tools/node_modules/bun/bin/bun.exe"
[ -x "$BUN" ] || SKIP_CARGO_BUILD=1 "$ROOT/scripts/setup.sh"

echo "==> building the runtime (release)"
cargo build --release -q --bin buntime
RT_BIN="$ROOT/target/release/buntime"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/apps/echo" "$WORK/plugins" "$WORK/state"
cat > "$WORK/apps/echo/index.ts" <<'JS'
export default {
  fetch(req, server) { if (server.upgrade(req)) return; return new Response("ws only", { status: 426 }); },
  websocket: { message(ws, msg) { ws.send(msg); } },
};
JS
printf 'ttl: 5m\n' > "$WORK/apps/echo/manifest.yaml"
cat > "$WORK/direct.ts" <<JS
const app = (await import("$WORK/apps/echo/index.ts")).default;
Bun.serve({ port: ${DIRECT_PORT}, hostname: "127.0.0.1", fetch: app.fetch, websocket: app.websocket });
console.log("direct ready");
JS

"$BUN" "$WORK/direct.ts" >"$WORK/direct.log" 2>&1 &
PIDS+=($!)
(cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$RT_PORT" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
  RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_PLUGIN_DIRS="$WORK/plugins" RUNTIME_STATE_DIR="$WORK/state" \
  BUNTIME_BUN="$BUN" "$RT_BIN" serve >"$WORK/runtime.log" 2>&1) &
PIDS+=($!)
for port in "$DIRECT_PORT" "$RT_PORT"; do
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    sleep 0.2
  done
done

run() { "$BUN" "$ROOT/bench/ws-client.ts" "$1" "$CONNS" "$DURATION" "$SIZE"; }
echo "==> WebSocket echo: $CONNS sockets, ${SIZE}-byte messages, ${DURATION}s each"
DIRECT=$(run "ws://127.0.0.1:$DIRECT_PORT/")
RUNTIME=$(run "ws://127.0.0.1:$RT_PORT/echo")
printf '%-8s %12s %10s %10s %8s\n' via "msgs/s" "p50 ms" "p99 ms" errors
printf '%-8s %12s %10s %10s %8s\n' direct $DIRECT
printf '%-8s %12s %10s %10s %8s\n' runtime $RUNTIME
awk -v d="$(echo "$DIRECT" | cut -d' ' -f1)" -v r="$(echo "$RUNTIME" | cut -d' ' -f1)" \
  'BEGIN { printf "ratio runtime/direct (msgs/s): %.2f\n", r / d }'
