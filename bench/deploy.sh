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
# shellcheck source=bench/lib/replicas.sh
. "$ROOT/bench/lib/replicas.sh"
mkdir -p "$WORK/src" "$WORK/cfg"
start_replicas
URL="${URLS[0]}"
export BUNTIME_CONFIG_DIR="$WORK/cfg"
"$BIN" remote add bench --url "$URL" --token "$MASTER" >/dev/null

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
