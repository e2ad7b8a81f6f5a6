#!/usr/bin/env bash
# Time from `POST /api/plugins/reload` on one replica to the new generation served by every
# replica: REPLICAS (3) runtimes with the shipped plugins (a copy, so the hello plugin's greeting
# can change) on one data directory and one throwaway PostgreSQL. Each of RUNS (10) rounds sets a
# new greeting, asks a different replica to reload, and polls every replica in parallel (curl every
# 5 ms) until `GET /hello/api/greeting` answers it. The same-run baseline is the replica asked: its
# own reload, answered before the others hear of it. Prints each round and the p50s and their ratio.
# Env: RUNS (10), REPLICAS (3), PORT (18491; replicas take the next ports), BIN (default: a
# release build, made if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${RUNS:-10}"
REPLICAS="${REPLICAS:-3}"
PORT="${PORT:-18491}"
[ "$REPLICAS" -ge 2 ] || { echo "REPLICAS must be 2 or more" >&2; exit 2; }
# shellcheck source=bench/lib/replicas.sh
. "$ROOT/bench/lib/replicas.sh"
cp -r "$ROOT/plugins" "$WORK/plugins"
PLUGIN_DIRS="$WORK/plugins"
HELLO="$WORK/plugins/plugin-hello/manifest.yaml"
start_replicas

# round N: new greeting, reload on replica N % REPLICAS; prints the ms until every replica served
# it and the ms until the replica asked did.
round() {
  local n="$1" greeting="round $1 $RANDOM" origin=$(( $1 % REPLICAS )) i start t end=0 asked
  sed -i '/^greeting:/d' "$HELLO"
  printf 'greeting: "%s"\n' "$greeting" >>"$HELLO"
  start=$(now_ms)
  curl -fs -X POST -H "x-api-key: $MASTER" "${URLS[$origin]}/api/plugins/reload" >"$WORK/reply" ||
    { echo "round $n: the reload on replica $origin failed: $(cat "$WORK/reply")" >&2; exit 1; }
  for i in "${!URLS[@]}"; do
    ( until curl -s "${URLS[$i]}/hello/api/greeting" | grep -qF "\"$greeting\""; do
        [ $(( $(now_ms) - start )) -lt 30000 ] || { echo "round $n: ${URLS[$i]} never served the new generation" >&2; exit 1; }
        sleep 0.005
      done
      now_ms >"$WORK/served$i" ) &
  done
  wait
  for i in "${!URLS[@]}"; do
    [ -s "$WORK/served$i" ] || exit 1
    t=$(cat "$WORK/served$i"); rm -f "$WORK/served$i"
    [ "$t" -gt "$end" ] && end=$t
    [ "$i" = "$origin" ] && asked=$t
  done
  echo "$(( end - start )) $(( asked - start ))"
}

echo "==> $RUNS reloads, each asked of the next of $REPLICAS replicas ($BIN)"
alls=() askeds=()
for n in $(seq 1 "$RUNS"); do
  read -r all asked < <(round "$n")
  alls+=("$all") askeds+=("$asked")
  echo "  round $n (asked replica $(( n % REPLICAS ))): every replica $all ms, the replica asked $asked ms"
done
p50() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
pa=$(printf '%s\n' "${alls[@]}" | p50)
pb=$(printf '%s\n' "${askeds[@]}" | p50)
sorted=$(printf '%s\n' "${alls[@]}" | sort -n)
echo "reload → every replica: p50 $pa ms, min $(echo "$sorted" | head -1) ms, max $(echo "$sorted" | tail -1) ms over $RUNS rounds"
echo "the replica asked: p50 $pb ms; ratio every replica / the replica asked: $(awk "BEGIN{printf \"%.2f\", $pa / ($pb > 0 ? $pb : 1)}")"
