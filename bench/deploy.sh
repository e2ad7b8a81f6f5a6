#!/usr/bin/env bash
# Time from `buntime apps deploy` to the new version served: a runtime on this machine, the client
# pointed at it through a remote profile, then RUNS (10) deploys of a new version each, timing from
# the client's start until a GET of the app answers with the new version's body (polled every 5 ms).
# Two kinds of app: a static site (index.html) and a TypeScript worker app (Bun, when present:
# includes the worker's cold start). Prints each run and the p50/min/max per kind in ms.
# REPLICAS=N (N > 1) starts N runtimes on one data directory and one throwaway PostgreSQL (Debian's
# initdb/pg_ctl, as the tests use), deploys through the first and times until EVERY replica serves
# the new version; the baseline of the same run is the time until the first (the one deployed to)
# serves it, and the ratio of the two is printed.
# Env: RUNS (10), PORT (18391; replicas take the next ports), BIN (default: a release build, made if
# missing), KIND (both|static|worker), REPLICAS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${RUNS:-10}"
PORT="${PORT:-18391}"
KIND="${KIND:-both}"
REPLICAS="${REPLICAS:-1}"
if [ -z "${BIN:-}" ]; then
  echo "==> building the runtime (release)" >&2
  cargo build --release -q --bin buntime
  BIN="$ROOT/target/release/buntime"
fi
BUN="${BUNTIME_BUN:-$ROOT/.tools/node_modules/bun/bin/bun.exe}"
WORK="$(mktemp -d)"
MASTER="bench-master-key-$(date +%s%N)"
RT_PIDS=()
PG_CTL=""
cleanup() {
  for pid in "${RT_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  [ -n "$PG_CTL" ] && $PG_CTL -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/apps" "$WORK/src" "$WORK/state" "$WORK/cfg"
for i in $(seq 0 $((REPLICAS - 1))); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$((PORT + i))") 2>/dev/null; then
    echo "port $((PORT + i)) is already in use; set PORT to a free one" >&2
    exit 1
  fi
done

CLUSTER_ENV=()
if [ "$REPLICAS" -gt 1 ]; then
  PG_BIN="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")"
  [ -x "$PG_BIN/initdb" ] || { echo "REPLICAS needs PostgreSQL's initdb (apt-get install postgresql)" >&2; exit 1; }
  PG_PORT=$((PORT + REPLICAS))
  AS=(); [ "$(id -u)" = 0 ] && { chown -R postgres: "$WORK"; AS=(runuser -u postgres --); }
  mkdir -p "$WORK/pg" && [ "$(id -u)" = 0 ] && chown postgres: "$WORK/pg"
  (cd "$WORK" && "${AS[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null)
  PG_CTL="${AS[*]} $PG_BIN/pg_ctl"
  (cd "$WORK" && $PG_CTL -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null)
  echo "==> PostgreSQL on port $PG_PORT; $REPLICAS replicas on ports $PORT-$((PORT + REPLICAS - 1))"
fi

URLS=()
for i in $(seq 0 $((REPLICAS - 1))); do
  [ "$REPLICAS" -gt 1 ] && CLUSTER_ENV=(RUNTIME_CLUSTER_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres" RUNTIME_REPLICA_ID="r$i")
  env -i PATH="$PATH" PORT="$((PORT + i))" RUNTIME_HOST=127.0.0.1 RUNTIME_MASTER_KEY="$MASTER" \
    RUNTIME_PLUGIN_DIRS="$ROOT/plugins" RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_STATE_DIR="$WORK/state" \
    RUNTIME_LOG_LEVEL=warn BUNTIME_BUN="$BUN" "${CLUSTER_ENV[@]}" "$BIN" >"$WORK/runtime$i.log" 2>&1 &
  RT_PIDS+=($!)
  URLS+=("http://127.0.0.1:$((PORT + i))")
done
for i in "${!URLS[@]}"; do
  url="${URLS[$i]}"
  for _ in $(seq 1 300); do
    kill -0 "${RT_PIDS[$i]}" 2>/dev/null || { echo "runtime $i exited:" >&2; cat "$WORK/runtime$i.log" >&2; exit 1; }
    if [ "$REPLICAS" -gt 1 ]; then
      curl -fs "$url/api/health/ready" 2>/dev/null | grep -q '"link":"connected"' && break
    else
      curl -fs "$url/api/health/ready" >/dev/null 2>&1 && break
    fi
    sleep 0.05
  done
  curl -fs "$url/api/health/ready" >/dev/null || { echo "runtime $i did not get ready:" >&2; cat "$WORK/runtime$i.log" >&2; exit 1; }
done
URL="${URLS[0]}"
export BUNTIME_CONFIG_DIR="$WORK/cfg"
"$BIN" remote add bench --url "$URL" --token "$MASTER" >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# deploy_once KIND N: writes version 1.0.N, deploys it through the first runtime, polls every
# runtime until it serves it; prints the ms until every runtime served it, the part of it the
# `apps deploy` command took, and the ms until the first runtime served it.
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
  local start mid end first i
  start=$(now_ms)
  "$BIN" apps deploy "$dir" >/dev/null
  mid=$(now_ms)
  # One poller per runtime, in parallel, each noting when its runtime first served the marker.
  for i in "${!URLS[@]}"; do
    ( until [ "$(curl -s "${URLS[$i]}/bench-$kind/")" = "$marker" ]; do
        [ $(( $(now_ms) - start )) -lt 30000 ] || { echo "version 1.0.$n of bench-$kind never served by ${URLS[$i]}" >&2; exit 1; }
        sleep 0.005
      done
      now_ms >"$WORK/served$i" ) &
  done
  wait
  end=0
  for i in "${!URLS[@]}"; do
    [ -s "$WORK/served$i" ] || exit 1
    local t; t=$(cat "$WORK/served$i"); rm -f "$WORK/served$i"
    [ "$t" -gt "$end" ] && end=$t
    [ "$i" = 0 ] && first=$t
  done
  echo "$(( end - start )) $(( mid - start )) $(( first - start ))"
}

kinds=()
case "$KIND" in
  both) kinds=(static); [ -x "$BUN" ] && kinds+=(worker) || echo "==> no Bun at $BUN: worker runs skipped" >&2 ;;
  static|worker) kinds=("$KIND") ;;
  *) echo "KIND must be both, static or worker" >&2; exit 2 ;;
esac
echo "==> $RUNS deploys per kind through $URL ($BIN), until served by $REPLICAS runtime(s)"
p50() { sort -n | sed -n "$(( ($1 + 1) / 2 ))p"; }
for kind in "${kinds[@]}"; do
  times=() firsts=()
  for n in $(seq 1 "$RUNS"); do
    read -r t cli first < <(deploy_once "$kind" "$n")
    times+=("$t") firsts+=("$first")
    if [ "$REPLICAS" -gt 1 ]; then
      echo "  $kind run $n: every replica $t ms, the one deployed to $first ms (the deploy command: $cli ms)"
    else
      echo "  $kind run $n: $t ms (the deploy command: $cli ms)"
    fi
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  count=${#times[@]}
  # p50 as the lower median of the sorted runs.
  p=$(echo "$sorted" | p50 "$count")
  echo "$kind: p50 $p ms, min $(echo "$sorted" | head -1) ms, max $(echo "$sorted" | tail -1) ms over $count deploys"
  if [ "$REPLICAS" -gt 1 ]; then
    pf=$(printf '%s\n' "${firsts[@]}" | p50 "$count")
    echo "$kind: every replica p50 $p ms vs the replica deployed to p50 $pf ms: ratio $(awk "BEGIN{printf \"%.2f\", $p / ($pf > 0 ? $pf : 1)}")"
  fi
done
