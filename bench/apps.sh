#!/usr/bin/env bash
# Benchmarks JS apps through Buntime's worker pool against the same apps on Bun.serve directly.
#
# Scenarios (wrk, 10 s each by default): warm-noop with the DEFAULT manifest (`ttl: 5m` and nothing
# else, so workers are recycled every 1000 requests: the headline, as users run apps) and with the
# tuned one (`maxRequests: 1000000000`, `idleTimeout: 1h`: never recycled), echo-1kb (POST 1 KiB,
# echoed), slow-50ms (concurrency 50) and ephemeral-noop (ttl: 0, concurrency 5); all but the
# headline use the tuned manifest. Prints req/s, p50/p95/p99, errors, ratios to the same app on
# Bun.serve in the same run, and RSS: runtime idle/after, hosts, and RSS per extra warm worker at
# 1, 10 and 50 distinct apps.
#
# Three ways in: `via=pool` is the `buntime-pool-bench` harness (a bare hyper server calling
# Pool::dispatch), `via=runtime` the real `buntime` binary (plugins pipeline, app resolution,
# manifests; skipped with RUNTIME=0 or if it does not build), `via=direct` the apps on Bun.serve.
# The runtime run adds a static SPA asset, and ends with where the CPU goes (bench/lib/cpu.sh: µs of
# CPU per request of wrk, the runtime and its worker hosts, and the ratio the runtime could reach if
# its own code cost nothing). Env: DURATION (10s), CONNS (50), EPH_CONNS (5), CPU_DURATION (5s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-50}"
EPH_CONNS="${EPH_CONNS:-5}"
POOL_PORT="${POOL_PORT:-18080}"
RT_PORT="${RT_PORT:-18070}"
RUNTIME="${RUNTIME:-1}"
DIRECT_BASE="${DIRECT_BASE:-18090}"

BUN="$ROOT/.tools/node_modules/bun/bin/bun.exe"
[ -x "$BUN" ] || SKIP_CARGO_BUILD=1 "$ROOT/scripts/setup.sh"
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; })
fi

echo "==> building the pool bench harness (release)"
cargo build --release -q -p buntime-pool --bin buntime-pool-bench
HARNESS="$ROOT/target/release/buntime-pool-bench"
RT_BIN=""
if [ "$RUNTIME" = "1" ]; then
  echo "==> building the runtime (release)"
  if cargo build --release -q --bin buntime; then RT_BIN="$ROOT/target/release/buntime"; else echo "(runtime did not build: skipping via=runtime)"; fi
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  # SIGINT first: the harness and the runtime then stop their worker hosts and remove their dirs.
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/apps/noop" "$WORK/apps/echo" "$WORK/apps/slow"
cat > "$WORK/apps/noop/index.ts" <<'JS'
export default { fetch: () => new Response("ok") };
JS
cat > "$WORK/apps/echo/index.ts" <<'JS'
export default { fetch: async (req: Request) => new Response(await req.arrayBuffer()) };
JS
cat > "$WORK/apps/slow/index.ts" <<'JS'
export default { fetch: async () => { await Bun.sleep(50); return new Response("slow"); } };
JS
# The same apps as runtime apps (manifest.yaml), plus ttl: 0 and a static SPA.
mkdir -p "$WORK/rt-apps" "$WORK/rt-plugins" "$WORK/rt-state"
for name in noop echo slow; do
  mkdir -p "$WORK/rt-apps/$name"
  cp "$WORK/apps/$name/index.ts" "$WORK/rt-apps/$name/index.ts"
  printf 'ttl: 1h\nidleTimeout: 1h\ntimeout: 30s\nmaxRequests: 1000000000\n' > "$WORK/rt-apps/$name/manifest.yaml"
done
mkdir -p "$WORK/rt-apps/noop-default"
cp "$WORK/apps/noop/index.ts" "$WORK/rt-apps/noop-default/index.ts"
printf 'ttl: 5m\n' > "$WORK/rt-apps/noop-default/manifest.yaml"
mkdir -p "$WORK/rt-apps/eph" "$WORK/rt-apps/spa"
cp "$WORK/apps/noop/index.ts" "$WORK/rt-apps/eph/index.ts"
printf 'ttl: 0\ntimeout: 30s\n' > "$WORK/rt-apps/eph/manifest.yaml"
printf '<!doctype html><html><head><title>spa</title></head><body><script src="app.js"></script></body></html>\n' > "$WORK/rt-apps/spa/index.html"
head -c 1024 /dev/zero | tr '\0' 'a' | sed 's/^/console.log("/; s/$/");/' > "$WORK/rt-apps/spa/app.js"

cat > "$WORK/direct.ts" <<JS
// The same apps, each on Bun.serve directly (the limit for a JS app on this machine).
const base = ${DIRECT_BASE};
const names = ["noop", "echo", "slow"];
for (const [i, name] of names.entries()) {
  const app = (await import("$WORK/apps/" + name + "/index.ts")).default;
  Bun.serve({ port: base + i, hostname: "127.0.0.1", fetch: app.fetch });
}
console.log("direct ready");
JS
cat > "$WORK/report.lua" <<'LUA'
local bytes = os.getenv("WRK_BODY_BYTES")
if bytes and bytes ~= "" then
  wrk.method = "POST"
  wrk.body = string.rep("x", tonumber(bytes))
  wrk.headers["Content-Type"] = "application/octet-stream"
end
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
LUA

wait_port() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "port $1 did not open" >&2; exit 1
}

rss_json() { curl -s "http://127.0.0.1:$POOL_PORT/__rss"; }
field() { sed -E "s/.*\"$1\":([0-9]+).*/\1/"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

"$HARNESS" "$WORK/apps" "$POOL_PORT" 2>"$WORK/harness.log" &
PIDS+=($!)
HARNESS_PID=$!
wait_port "$POOL_PORT"
"$BUN" "$WORK/direct.ts" >"$WORK/direct.log" 2>&1 &
PIDS+=($!)
DIRECT_PID=$!
wait_port "$DIRECT_BASE"

IDLE_RUNTIME=$(rss_json | field runtime)
RT_PID=""
if [ -n "$RT_BIN" ]; then
  (cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$RT_PORT" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
    RUNTIME_WORKER_DIRS="$WORK/rt-apps" RUNTIME_PLUGIN_DIRS="$WORK/rt-plugins" RUNTIME_STATE_DIR="$WORK/rt-state" \
    RUNTIME_EPHEMERAL_CONCURRENCY="$EPH_CONNS" BUNTIME_BUN="$BUN" "$RT_BIN" serve >"$WORK/runtime.log" 2>&1) &
  RT_PID=$!
  PIDS+=("$RT_PID")
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$RT_PORT/noop/"; then break; fi
    sleep 0.2
  done
  sleep 1
  RT_IDLE=$(awk '{ print $2 * 4096 }' "/proc/$RT_PID/statm" 2>/dev/null || echo 0)
fi

run() { # name url conns [body-bytes]
  local name=$1 url=$2 conns=$3 bytes=${4:-}
  curl -s -o /dev/null ${bytes:+-X POST --data-binary @<(head -c "$bytes" /dev/zero | tr '\0' x)} "$url" || true
  local out
  out=$(WRK_BODY_BYTES="$bytes" wrk -t2 -c"$conns" -d"$DURATION" --timeout 5s -s "$WORK/report.lua" "$url" | grep '^RESULT' || echo "RESULT 0 0 0 0 -1")
  read -r _ rps p50 p95 p99 errors <<<"$out"
  printf "%-16s %-7s %10s %9s %9s %9s %7s\n" "$name" "$5" "$rps" "$p50" "$p95" "$p99" "$errors"
  eval "RPS_${5}_${name//-/_}=$rps"
}

echo
printf "%-16s %-7s %10s %9s %9s %9s %7s\n" scenario via "req/s" "p50 ms" "p95 ms" "p99 ms" errors
run warm-noop      "http://127.0.0.1:$((DIRECT_BASE + 0))/"      "$CONNS"     ""   direct
if [ -n "$RT_PID" ]; then
  run default-noop   "http://127.0.0.1:$RT_PORT/noop-default/"     "$CONNS"     ""   runtime
  run warm-noop      "http://127.0.0.1:$RT_PORT/noop/"             "$CONNS"     ""   runtime
fi
run default-noop   "http://127.0.0.1:$POOL_PORT/noop-default/"   "$CONNS"     ""   pool
run warm-noop      "http://127.0.0.1:$POOL_PORT/noop/"           "$CONNS"     ""   pool
run echo-1kb       "http://127.0.0.1:$POOL_PORT/echo/"           "$CONNS"     1024 pool
run echo-1kb       "http://127.0.0.1:$((DIRECT_BASE + 1))/"      "$CONNS"     1024 direct
run slow-50ms      "http://127.0.0.1:$POOL_PORT/slow/"           "$CONNS"     ""   pool
run slow-50ms      "http://127.0.0.1:$((DIRECT_BASE + 2))/"      "$CONNS"     ""   direct
run ephemeral-noop "http://127.0.0.1:$POOL_PORT/eph/"            "$EPH_CONNS" ""   pool
run ephemeral-noop "http://127.0.0.1:$((DIRECT_BASE + 0))/"      "$EPH_CONNS" ""   direct
if [ -n "$RT_PID" ]; then
  run echo-1kb       "http://127.0.0.1:$RT_PORT/echo/"             "$CONNS"     1024 runtime
  run slow-50ms      "http://127.0.0.1:$RT_PORT/slow/"             "$CONNS"     ""   runtime
  run ephemeral-noop "http://127.0.0.1:$RT_PORT/eph/"              "$EPH_CONNS" ""   runtime
  run static-asset   "http://127.0.0.1:$RT_PORT/spa/app.js"        "$CONNS"     ""   runtime
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
if [ -n "$RT_PID" ]; then
  echo "HEADLINE warm-noop / direct Bun.serve: default manifest (ttl: 5m) $(ratio "$RPS_runtime_default_noop" "$RPS_direct_warm_noop")," \
    "tuned manifest $(ratio "$RPS_runtime_warm_noop" "$RPS_direct_warm_noop") (via=runtime)"
fi
echo "ratios (pool / direct Bun): default-noop $(ratio "$RPS_pool_default_noop" "$RPS_direct_warm_noop"), warm-noop $(ratio "$RPS_pool_warm_noop" "$RPS_direct_warm_noop")," \
  "echo-1kb $(ratio "$RPS_pool_echo_1kb" "$RPS_direct_echo_1kb")," \
  "slow-50ms vs ideal $(ratio "$RPS_pool_slow_50ms" "$((CONNS * 20))")"

if [ -n "$RT_PID" ]; then
  echo "ratios (runtime / direct Bun): warm-noop $(ratio "$RPS_runtime_warm_noop" "$RPS_direct_warm_noop")," \
    "echo-1kb $(ratio "$RPS_runtime_echo_1kb" "$RPS_direct_echo_1kb")," \
    "slow-50ms vs ideal $(ratio "$RPS_runtime_slow_50ms" "$((CONNS * 20))")"
  RT_AFTER=$(awk '{ print $2 * 4096 }' "/proc/$RT_PID/statm" 2>/dev/null || echo 0)
  echo "buntime RSS: idle $(mb "$RT_IDLE") MB, after load $(mb "$RT_AFTER") MB (hosts not included)"
  grep -m5 -iE "error|panic" "$WORK/runtime.log" || true
fi

# Where the CPU goes (only via=runtime): µs of CPU per request of each process, user and kernel
# apart, and the best ratio the runtime could reach if its own code (user time) cost nothing:
# (wrk + Bun.serve) / (wrk + runtime kernel + worker hosts), all per request, from the same runs.
if [ -n "$RT_PID" ]; then
  source "$ROOT/bench/lib/cpu.sh"
  echo
  echo "CPU per request (${CPU_DURATION:-5s} runs; µs user+kernel; hosts = the runtime's worker hosts):"
  CPU_GROUPS="bun:$DIRECT_PID"
  cpu_run "http://127.0.0.1:$((DIRECT_BASE + 0))/" 2 "$CONNS" "${CPU_DURATION:-5s}"; cpu_row "direct Bun.serve"
  DIRECT_US=$(awk -v w="$CPU_US_wrk" -v b="$(cpu_total bun)" 'BEGIN { print w + b }')
  # The worker hosts are the runtime's child processes (all started by the runs above).
  CPU_GROUPS="runtime:$RT_PID hosts:$(pgrep -d, -P "$RT_PID")"
  cpu_run "http://127.0.0.1:$RT_PORT/noop-default/" 2 "$CONNS" "${CPU_DURATION:-5s}"; cpu_row "runtime default"
  BOUND_DEFAULT=$(cpu_bound "$DIRECT_US" runtime hosts)
  cpu_run "http://127.0.0.1:$RT_PORT/noop/" 2 "$CONNS" "${CPU_DURATION:-5s}"; cpu_row "runtime tuned"
  BOUND_TUNED=$(cpu_bound "$DIRECT_US" runtime hosts)
  echo "bound with the runtime's user time at zero: default manifest $BOUND_DEFAULT, tuned $BOUND_TUNED of direct"
fi

AFTER=$(rss_json)
echo
echo "runtime RSS: idle $(mb "$IDLE_RUNTIME") MB, after load $(mb "$(echo "$AFTER" | field runtime)") MB;" \
  "hosts $(mb "$(echo "$AFTER" | field hosts)") MB in $(echo "$AFTER" | field hostCount) host(s)"

# RSS per extra warm worker: distinct warm apps (own worker threads) in fresh shared hosts.
kill -INT "$HARNESS_PID" 2>/dev/null || true
wait "$HARNESS_PID" 2>/dev/null || true
"$HARNESS" "$WORK/apps" "$POOL_PORT" 2>>"$WORK/harness.log" &
PIDS+=($!)
wait_port "$POOL_PORT"
warm_to() { for i in $(seq "$1" "$2"); do curl -s -o /dev/null "http://127.0.0.1:$POOL_PORT/noop-$i/"; done; sleep 1; }
warm_to 1 1;   R1=$(rss_json | field hosts)
warm_to 2 10;  R10=$(rss_json | field hosts)
warm_to 11 50; R50=$(rss_json | field hosts)
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n / 1048576 }'; }
echo "hosts RSS with 1/10/50 warm apps: $(mb "$R1") / $(mb "$R10") / $(mb "$R50") MB;" \
  "per extra warm worker: $(per "$R1" "$R10" 9) MB (1→10), $(per "$R1" "$R50" 49) MB (1→50)," \
  "$(per "$R10" "$R50" 40) MB (10→50, both shared hosts up)"
