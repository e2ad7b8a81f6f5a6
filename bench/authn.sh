#!/usr/bin/env bash
# Benchmarks plugin-authn through the release `buntime` binary.
#
#   route     GET /hello/api/greeting, a runtime with database + hello only (the route alone)
#   session   the same route, authn enabled, with a valid session cookie (gate + cached session)
#   sign-in   POST /auth/api/auth/sign-in/email with the right password (argon2id at the shipped
#             parameters: m=19456 KiB, t=2, p=1; plus one session row written)
# Latency scenarios use one connection (no queueing), so p50 is the cost of one request; the added
# cost of authn is session p50 - route p50. Prints req/s, p50/p99 (µs) and errors.
# Env: DURATION (10s), PORT (18076), SIGNIN_CONNS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION="${DURATION:-10s}"
PORT="${PORT:-18076}"
SIGNIN_CONNS="${SIGNIN_CONNS:-2}"
BASE="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  echo "==> installing wrk"
  (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; })
fi
if [ "${SKIP_BUILD:-0}" != "1" ]; then
  echo "==> building the runtime (release)"
  cargo build --release -q -p buntime-cli
fi
BIN="$ROOT/target/release/buntime"

WORK="$(mktemp -d)"
RT_PID=""
stop() {
  if [ -n "$RT_PID" ]; then kill -INT "$RT_PID" 2>/dev/null || true; sleep 1; kill "$RT_PID" 2>/dev/null || true; wait "$RT_PID" 2>/dev/null || true; fi
  RT_PID=""
}
cleanup() { stop; rm -rf "$WORK"; }
trap cleanup EXIT

serve() { # plugin names...
  rm -rf "$WORK/plugins" "$WORK/state"; mkdir -p "$WORK/plugins" "$WORK/apps" "$WORK/state"
  for p in "$@"; do
    mkdir -p "$WORK/plugins/$p"
    sed 's/^enabled: false/enabled: true/' "$ROOT/plugins/$p/manifest.yaml" >"$WORK/plugins/$p/manifest.yaml"
  done
  (cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" NODE_ENV=production RUNTIME_LOG_LEVEL=warn \
    RUNTIME_PLUGIN_DIRS="$WORK/plugins" RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_STATE_DIR="$WORK/state" \
    "$BIN" serve >"$WORK/runtime.log" 2>&1) &
  RT_PID=$!
  for _ in $(seq 1 100); do
    # Ready, not only listening: while plugins load every route answers 503 STARTING.
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/health/ready")" = 200 ]; then return; fi
    sleep 0.1
  done
  echo "the runtime did not start:"; cat "$WORK/runtime.log"; exit 1
}

cat >"$WORK/report.lua" <<'LUA'
-- COOKIE / BODY pick the request.
local cookie = os.getenv("COOKIE")
local body = os.getenv("BODY")
request = function()
  if body and body ~= "" then
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
  local h = {["Accept"] = "application/json"}
  if cookie and cookie ~= "" then h["Cookie"] = cookie end
  return wrk.format("GET", nil, h)
end
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("RESULT %.0f %.0f %.0f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), errors))
end
LUA

run() { # name conns url [cookie] [body]
  local name=$1 conns=$2 url=$3 out
  out=$(COOKIE="${4:-}" BODY="${5:-}" wrk -t1 -c"$conns" -d"$DURATION" --timeout 10s -s "$WORK/report.lua" "$url" | grep '^RESULT' || echo "RESULT 0 0 0 -1")
  read -r _ rps p50 p99 errors <<<"$out"
  printf "%-8s %6s %10s %10s %10s %7s\n" "$name" "$conns" "$rps" "$p50" "$p99" "$errors"
  eval "P50_${name//-/_}=$p50"
}

printf "%-8s %6s %10s %10s %10s %7s\n" scenario conns "req/s" "p50 µs" "p99 µs" errors
serve plugin-database plugin-hello
run route 1 "$BASE/hello/api/greeting"
stop

serve plugin-database plugin-hello plugin-authn
signup=$(curl -s -w ' %{http_code}' -X POST -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password 1"}' "$BASE/auth/api/auth/sign-up/email")
case "$signup" in *" 200") ;; *) echo "sign-up failed: $signup"; cat "$WORK/runtime.log"; exit 1;; esac
COOKIE=$(curl -s -D - -o /dev/null -X POST -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password 1"}' "$BASE/auth/api/auth/sign-in/email" \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: $COOKIE" "$BASE/hello/api/greeting")" = 200 ] || { echo "the session cookie is not accepted"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'accept: application/json' "$BASE/hello/api/greeting")" = 401 ] || { echo "the gate is not on"; exit 1; }
run session 1 "$BASE/hello/api/greeting" "$COOKIE"
run sign-in "$SIGNIN_CONNS" "$BASE/auth/api/auth/sign-in/email" "" '{"email":"bench@example.com","password":"bench password 1"}'
echo
awk -v a="$P50_session" -v b="$P50_route" 'BEGIN { printf "added p50 of a valid session: %d µs (goal <= 30 µs with authz)\n", a - b }'
grep -m5 -iE "error|panic" "$WORK/runtime.log" || true
