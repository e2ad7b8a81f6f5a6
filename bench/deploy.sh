#!/usr/bin/env bash
# Time from `buntime apps deploy` to the new version served: a runtime on this machine, the client
# pointed at it through a remote profile, then RUNS (10) deploys of a new version each, timing from
# the client's start until a GET of the app answers with the new version's body (polled every 5 ms).
# Two kinds of app: a static site (index.html) and a TypeScript worker app (Bun, when present:
# includes the worker's cold start). Prints each run and the p50/min/max per kind in ms.
# Env: RUNS (10), PORT (18391), BIN (default: a release build, made if missing), KIND (both|static|worker).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${RUNS:-10}"
PORT="${PORT:-18391}"
KIND="${KIND:-both}"
if [ -z "${BIN:-}" ]; then
  echo "==> building the runtime (release)" >&2
  cargo build --release -q --bin buntime
  BIN="$ROOT/target/release/buntime"
fi
BUN="${BUNTIME_BUN:-$ROOT/.tools/node_modules/bun/bin/bun.exe}"
WORK="$(mktemp -d)"
MASTER="bench-master-key-$(date +%s%N)"
cleanup() {
  [ -n "${RT_PID:-}" ] && kill "$RT_PID" 2>/dev/null && wait "$RT_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/apps" "$WORK/src" "$WORK/state" "$WORK/cfg"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT is already in use; set PORT to a free one" >&2
  exit 1
fi

env -i PATH="$PATH" PORT="$PORT" RUNTIME_HOST=127.0.0.1 RUNTIME_MASTER_KEY="$MASTER" \
  RUNTIME_PLUGIN_DIRS="$ROOT/plugins" RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_STATE_DIR="$WORK/state" \
  RUNTIME_LOG_LEVEL=warn BUNTIME_BUN="$BUN" "$BIN" >"$WORK/runtime.log" 2>&1 &
RT_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  kill -0 "$RT_PID" 2>/dev/null || { echo "the runtime exited:" >&2; cat "$WORK/runtime.log" >&2; exit 1; }
  curl -fs "$URL/api/health/ready" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fs "$URL/api/health/ready" >/dev/null || { echo "runtime did not get ready:" >&2; cat "$WORK/runtime.log" >&2; exit 1; }
export BUNTIME_CONFIG_DIR="$WORK/cfg"
"$BIN" remote add bench --url "$URL" --token "$MASTER" >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# deploy_once KIND N: writes version 1.0.N, deploys it, polls until it is served; prints the total
# ms and the part of it the `apps deploy` command took.
deploy_once() {
  local kind="$1" n="$2" dir="$WORK/src/$1" marker="v$2-$RANDOM"
  rm -rf "$dir" && mkdir -p "$dir"
  if [ "$kind" = static ]; then
    printf 'name: bench-static\nversion: 1.0.%s\nentrypoint: index.html\n' "$n" >"$dir/manifest.yaml"
    printf '%s' "$marker" >"$dir/index.html"
  else
    printf 'name: bench-worker\nversion: 1.0.%s\nttl: 5m\n' "$n" >"$dir/manifest.yaml"
    printf 'export default { fetch: () => new Response("%s") };\n' "$marker" >"$dir/index.ts"
  fi
  local start mid end
  start=$(now_ms)
  "$BIN" apps deploy "$dir" >/dev/null
  mid=$(now_ms)
  until [ "$(curl -s "$URL/bench-$kind/")" = "$marker" ]; do
    [ $(( $(now_ms) - start )) -lt 30000 ] || { echo "version 1.0.$n of bench-$kind never served" >&2; exit 1; }
    sleep 0.005
  done
  end=$(now_ms)
  echo "$(( end - start )) $(( mid - start ))"
}

kinds=()
case "$KIND" in
  both) kinds=(static); [ -x "$BUN" ] && kinds+=(worker) || echo "==> no Bun at $BUN: worker runs skipped" >&2 ;;
  static|worker) kinds=("$KIND") ;;
  *) echo "KIND must be both, static or worker" >&2; exit 2 ;;
esac
echo "==> $RUNS deploys per kind against $URL ($BIN)"
for kind in "${kinds[@]}"; do
  times=()
  for n in $(seq 1 "$RUNS"); do
    read -r t cli < <(deploy_once "$kind" "$n")
    times+=("$t")
    echo "  $kind run $n: $t ms (the deploy command: $cli ms)"
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  count=${#times[@]}
  # p50 as the lower median of the sorted runs.
  p50=$(echo "$sorted" | sed -n "$(( (count + 1) / 2 ))p")
  echo "$kind: p50 $p50 ms, min $(echo "$sorted" | head -1) ms, max $(echo "$sorted" | tail -1) ms over $count deploys"
done
