#!/usr/bin/env bash
# Benchmarks plugin-proxy: a small GET through a `/redirects` rule against wrk straight at the
# same upstream, in the same run, and a streamed 100 MB download through the proxy with the
# runtime's RSS before and after.
#
# The upstream is Bun.serve on 127.0.0.1 (`/hello` answers 13 bytes, `/big` streams 100 MB from a
# file). The runtime is the real `buntime` binary (release) with plugin-proxy (and plugin-hello) loaded and one
# static rule `^/up/(.*)$` -> `http://127.0.0.1:$UP_PORT/$1`. wrk, the runtime and the upstream
# share this machine's cores. Prints req/s, p50/p99 and errors for `direct` and `proxied`, the
# ratio proxied/direct, the runtime's own native hello route for scale (`native`: what the
# runtime alone costs per request here), where the CPU goes (bench/lib/cpu.sh: µs of CPU per request
# of wrk, the runtime and the upstream, and the ratio if the runtime's own code cost nothing), and
# the download's time and RSS.
# Env: DURATION (10s), CONNS (50), THREADS (2), CPU_DURATION (5s), RT_BIN (a runtime binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-50}"
THREADS="${THREADS:-2}"
RT_PORT="${RT_PORT:-18270}"
UP_PORT="${UP_PORT:-18290}"
BUN="$ROOT/.tools/node_modules/bun/bin/bun.exe"
[ -x "$BUN" ] || SKIP_CARGO_BUILD=1 "$ROOT/scripts/setup.sh"
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; })
fi

# RT_BIN: another build to measure (an A/B of two binaries); unset, the release build here.
if [ -z "${RT_BIN:-}" ]; then
  echo "==> building the runtime (release)"
  cargo build --release -q --bin buntime
  RT_BIN="$ROOT/target/release/buntime"
fi

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

mkdir -p "$WORK/plugins/plugin-proxy" "$WORK/plugins/plugin-hello" "$WORK/apps" "$WORK/state"
cp "$ROOT/plugins/plugin-hello/manifest.yaml" "$WORK/plugins/plugin-hello/"
head -c 100000000 /dev/zero > "$WORK/big.bin"
cat > "$WORK/upstream.ts" <<JS
Bun.serve({
  port: ${UP_PORT}, hostname: "127.0.0.1",
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/big") return new Response(Bun.file("$WORK/big.bin"));
    return new Response("hello, proxy!");
  },
});
console.log("upstream ready");
JS
sed -e "s#^rules: \[\]#rules:\n  - { pattern: \"^/up/(.*)\$\", target: \"http://127.0.0.1:${UP_PORT}\", rewrite: \"/\$1\" }#" \
  "$ROOT/plugins/plugin-proxy/manifest.yaml" > "$WORK/plugins/plugin-proxy/manifest.yaml"

"$BUN" "$WORK/upstream.ts" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
UP_PID=$!
(cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$RT_PORT" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
  RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_PLUGIN_DIRS="$WORK/plugins" RUNTIME_STATE_DIR="$WORK/state" \
  "$RT_BIN" serve >"$WORK/runtime.log" 2>&1) &
PIDS+=($!)
RT_PID=$!
for url in "http://127.0.0.1:$UP_PORT/hello" "http://127.0.0.1:$RT_PORT/up/hello"; do
  for _ in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then break; fi
    sleep 0.2
  done
done
[ "$(curl -s "http://127.0.0.1:$RT_PORT/up/hello")" = "hello, proxy!" ] || { echo "the proxy does not answer"; cat "$WORK/runtime.log"; exit 1; }

# req/s, p50 ms, p99 ms, errors from one wrk run.
measure() {
  wrk -t"$THREADS" -c"$CONNS" -d2s "$1" >/dev/null 2>&1 || true   # warm-up
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx|Socket errors/ { err = err $0 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.2f %.2f %s\n", rps, ms(p50), ms(p99), (err == "" ? 0 : "yes") }'
}
echo "==> small GET: $CONNS connections, $THREADS wrk threads, $DURATION each"
DIRECT=$(measure "http://127.0.0.1:$UP_PORT/hello")
PROXIED=$(measure "http://127.0.0.1:$RT_PORT/up/hello")
NATIVE=$(measure "http://127.0.0.1:$RT_PORT/hello/api/greeting")
printf '%-8s %10s %8s %8s %7s\n' via "req/s" "p50 ms" "p99 ms" errors
printf '%-8s %10s %8s %8s %7s\n' direct $DIRECT
printf '%-8s %10s %8s %8s %7s\n' proxied $PROXIED
printf '%-8s %10s %8s %8s %7s\n' native $NATIVE
awk -v d="$(echo "$DIRECT" | cut -d' ' -f1)" -v p="$(echo "$PROXIED" | cut -d' ' -f1)" \
  'BEGIN { printf "ratio proxied/direct (req/s): %.2f\n", p / d }'

# Where the CPU goes: µs of CPU per request of wrk, the runtime and the upstream (user+kernel), and
# the best ratio if the runtime's own code (user time) cost nothing:
# (wrk + upstream) / (wrk + runtime kernel + upstream), per request, from the same runs.
source "$ROOT/bench/lib/cpu.sh"
echo "==> CPU per request (${CPU_DURATION:-5s} runs; µs user+kernel)"
CPU_GROUPS="upstream:$UP_PID runtime:$RT_PID"
cpu_run "http://127.0.0.1:$UP_PORT/hello" "$THREADS" "$CONNS" "${CPU_DURATION:-5s}"; cpu_row direct
DIRECT_US=$(awk -v w="$CPU_US_wrk" -v u="$(cpu_total upstream)" 'BEGIN { print w + u }')
cpu_run "http://127.0.0.1:$RT_PORT/up/hello" "$THREADS" "$CONNS" "${CPU_DURATION:-5s}"; cpu_row proxied
echo "bound with the runtime's user time at zero: $(cpu_bound "$DIRECT_US" runtime upstream) of direct"
cpu_run "http://127.0.0.1:$RT_PORT/hello/api/greeting" "$THREADS" "$CONNS" "${CPU_DURATION:-5s}"; cpu_row native

echo "==> 100 MB download through the proxy"
rss() { awk '/VmRSS/ { print $2 }' "/proc/$RT_PID/status"; }
BEFORE=$(rss)
OUT=$(curl -s -o /dev/null -w '%{size_download} %{time_total}' "http://127.0.0.1:$RT_PORT/up/big")
AFTER=$(rss)
echo "bytes, seconds: $OUT"
echo "runtime RSS: before ${BEFORE} kB, after ${AFTER} kB"
