#!/usr/bin/env bash
# Benchmarks the KeyVal plugin over HTTP through the release `buntime` binary, against the native
# hello route (`/hello/api/greeting`) served by the same process in the same run.
#
# Scenarios (wrk, 10 s each by default, 50 connections):
#   hello     GET  /hello/api/greeting                      (the pipeline's own cost)
#   get       GET  /keyval/api/keys/bench/get/<1..1000>     (one point read, keys pre-seeded)
#   set       PUT  /keyval/api/keys/bench/set/<n>           (one write transaction, fresh keys)
#   list-100  GET  /keyval/api/keys?prefix=bench/list&limit=100
#   atomic-3  POST /keyval/api/atomic with one check and three mutations (set, sum, delete)
# Prints req/s, p50/p95/p99 and errors per scenario, each one's ratio to hello and to the same
# statements run in-process on rusqlite (examples/sqlite_limit.rs, the limit), and the watch
# latency (PUT sent -> SSE change event received, p50/p99).
# The goal for get is >= 40 000 req/s. Env: DURATION (10s), CONNS (50), PORT (18075).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-50}"
PORT="${PORT:-18075}"
BASE="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; })
fi
if [ "${SKIP_BUILD:-0}" != "1" ]; then
  echo "==> building the runtime and the in-process limit (release)"
  cargo build --release -q -p buntime-cli
  cargo build --release -q -p buntime-plugin-keyval --example sqlite_limit
fi
BIN="$ROOT/target/release/buntime"

WORK="$(mktemp -d)"
RT_PID=""
cleanup() {
  if [ -n "$RT_PID" ]; then kill -INT "$RT_PID" 2>/dev/null || true; sleep 1; kill "$RT_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Only the three plugins involved, from their shipped manifests.
for p in plugin-hello plugin-database plugin-keyval; do
  mkdir -p "$WORK/plugins/$p"
  cp "$ROOT/plugins/$p/manifest.yaml" "$WORK/plugins/$p/"
done
mkdir -p "$WORK/apps" "$WORK/state"
(cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
  RUNTIME_PLUGIN_DIRS="$WORK/plugins" RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_STATE_DIR="$WORK/state" \
  "$BIN" serve >"$WORK/runtime.log" 2>&1) &
RT_PID=$!
for _ in $(seq 1 100); do
  if curl -sf -o /dev/null "$BASE/hello/api/greeting"; then break; fi
  sleep 0.1
done
curl -sf -o /dev/null "$BASE/keyval/api/keys/count" || { echo "keyval is not serving:"; cat "$WORK/runtime.log"; exit 1; }

echo "==> seeding 1000 point keys and 100 list entries"
for i in $(seq 1 1000); do printf '{"n":%d,"name":"user-%d","tags":["a","b"]}\n' "$i" "$i" >"$WORK/v.json"; curl -sf -o /dev/null -X PUT --data-binary @"$WORK/v.json" "$BASE/keyval/api/keys/bench/get/$i"; done
for i in $(seq 1 100); do curl -sf -o /dev/null -X PUT --data-binary "{\"i\":$i,\"payload\":\"$(head -c 64 /dev/zero | tr '\0' x)\"}" "$BASE/keyval/api/keys/bench/list/$i"; done

cat > "$WORK/report.lua" <<'LUA'
-- SCENARIO picks the request; each wrk thread numbers its own requests so keys differ.
local scenario = os.getenv("SCENARIO")
local n = 0
local id = 0
setup = function(thread) id = id + 1; thread:set("tid", id) end
request = function()
  n = n + 1
  if scenario == "get" then
    return wrk.format("GET", "/keyval/api/keys/bench/get/" .. ((n % 1000) + 1))
  elseif scenario == "set" then
    return wrk.format("PUT", "/keyval/api/keys/bench/set/" .. tid .. "/" .. n, {["Content-Type"] = "application/json"}, '{"n":' .. n .. ',"name":"x"}')
  elseif scenario == "atomic" then
    local k = tid .. "-" .. n
    local body = '{"checks":[{"key":["bench","atomic",' .. '"' .. k .. '"],"versionstamp":null}],"mutations":['
      .. '{"type":"set","key":["bench","atomic","' .. k .. '"],"value":{"n":' .. n .. '}},'
      .. '{"type":"sum","key":["bench","counter",' .. (n % 16) .. '],"value":1},'
      .. '{"type":"delete","key":["bench","atomic","gone-' .. k .. '"]}]}'
    return wrk.format("POST", "/keyval/api/atomic", {["Content-Type"] = "application/json"}, body)
  else
    return wrk.format("GET", nil)
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
LUA

run() { # name scenario url
  local name=$1 scenario=$2 url=$3 out
  out=$(SCENARIO="$scenario" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s -s "$WORK/report.lua" "$url" | grep '^RESULT' || echo "RESULT 0 0 0 0 -1")
  read -r _ rps p50 p95 p99 errors <<<"$out"
  printf "%-10s %10s %9s %9s %9s %7s\n" "$name" "$rps" "$p50" "$p95" "$p99" "$errors"
  eval "RPS_${name//-/_}=$rps"
}

echo
printf "%-10s %10s %9s %9s %9s %7s\n" scenario "req/s" "p50 ms" "p95 ms" "p99 ms" errors
run hello    url    "$BASE/hello/api/greeting"
run get      get    "$BASE/"
run set      set    "$BASE/"
run list-100 url    "$BASE/keyval/api/keys?prefix=bench/list&limit=100"
run atomic-3 atomic "$BASE/"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "ratios to hello: get $(ratio "$RPS_get" "$RPS_hello"), set $(ratio "$RPS_set" "$RPS_hello")," \
  "list-100 $(ratio "$RPS_list_100" "$RPS_hello"), atomic-3 $(ratio "$RPS_atomic_3" "$RPS_hello")"

echo "==> the in-process limit: the same statements on rusqlite directly (examples/sqlite_limit.rs)"
LIMITS=$("$ROOT/target/release/examples/sqlite_limit" "${DURATION%s}")
echo "$LIMITS"
lim() { echo "$LIMITS" | awk -v n="$1" '$2 == n { print $3 }'; }
echo "ratios to the in-process limit: get $(ratio "$RPS_get" "$(lim get)"), set $(ratio "$RPS_set" "$(lim set)")," \
  "list-100 $(ratio "$RPS_list_100" "$(lim list-100)"), atomic-3 $(ratio "$RPS_atomic_3" "$(lim atomic-3)")"
echo "get goal: 40000 req/s -> $(awk -v a="$RPS_get" 'BEGIN { print (a >= 40000) ? "met" : "not met" }')"

echo
echo "==> watch latency: PUT sent -> its SSE change event received (one watcher, 500 writes)"
python3 - "$PORT" <<'PY'
import http.client, socket, statistics, sys, time
port = int(sys.argv[1])
sse = socket.create_connection(("127.0.0.1", port))
sse.sendall(b"GET /keyval/api/watch?keys=bench/watch&initial=false HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
sse.settimeout(5)
buf = b""
def next_event():
    global buf
    while b"event: change" not in buf:
        buf += sse.recv(65536)
    i = buf.index(b"event: change")
    end = buf.index(b"\n\n", i) if b"\n\n" in buf[i:] else None
    while end is None:
        buf += sse.recv(65536)
        end = buf.find(b"\n\n", i)
        end = None if end < 0 else end
    buf = buf[end + 2:]
put = http.client.HTTPConnection("127.0.0.1", port)
put.request("GET", "/keyval/api/keys/count"); put.getresponse().read()
time.sleep(0.2)
lat = []
for n in range(500):
    t0 = time.perf_counter()
    put.request("PUT", "/keyval/api/keys/bench/watch", body=str(n), headers={"Content-Type": "application/json"})
    next_event()
    lat.append((time.perf_counter() - t0) * 1000)
    put.getresponse().read()
lat.sort()
print(f"watch latency ms: p50 {statistics.median(lat):.2f}  p99 {lat[int(len(lat) * 0.99) - 1]:.2f}  max {lat[-1]:.2f} (goal p99 <= 5)")
PY
curl -s "$BASE/keyval/api/metrics" | head -c 2000; echo
grep -m5 -iE "error|panic" "$WORK/runtime.log" || true
