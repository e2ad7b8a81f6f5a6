# Sourced by the benches that need one runtime or several replicas on one PostgreSQL.
# Expects ROOT, PORT and REPLICAS; BIN (default: a release build, made here) and BUNTIME_BUN are
# optional. Sets BIN, BUN, WORK (a temp dir) and MASTER, and an EXIT trap that stops everything
# and removes WORK. Provides start_replicas, which starts REPLICAS runtimes on ports PORT.. with
# PLUGIN_DIRS (default: the shipped plugins/) (with REPLICAS > 1: on one data dir and a throwaway
# PostgreSQL from Debian's initdb/pg_ctl, as the tests use) and waits until each is ready and, with
# more than one, linked; then URLS holds their base URLs.

if [ -z "${BIN:-}" ]; then
  echo "==> building the runtime (release)" >&2
  cargo build --release -q --bin buntime
  BIN="$ROOT/target/release/buntime"
fi
BUN="${BUNTIME_BUN:-$ROOT/.tools/node_modules/bun/bin/bun.exe}"
WORK="$(mktemp -d)"
MASTER="bench-master-key-$(date +%s%N)"

RT_PIDS=()
URLS=()
PG_CTL=""

stop_replicas() {
  for pid in "${RT_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  [ -n "$PG_CTL" ] && $PG_CTL -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop_replicas EXIT

start_replicas() {
  local i url
  mkdir -p "$WORK/apps" "$WORK/state"
  for i in $(seq 0 $((REPLICAS - 1))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$((PORT + i))") 2>/dev/null; then
      echo "port $((PORT + i)) is already in use; set PORT to a free one" >&2
      exit 1
    fi
  done
  local cluster_env=() pg_port=$((PORT + REPLICAS))
  if [ "$REPLICAS" -gt 1 ]; then
    local pg_bin
    pg_bin="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")"
    [ -x "$pg_bin/initdb" ] || { echo "REPLICAS needs PostgreSQL's initdb (apt-get install postgresql)" >&2; exit 1; }
    local as=()
    mkdir -p "$WORK/pg"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$WORK"; as=(runuser -u postgres --); fi
    (cd "$WORK" && "${as[@]}" "$pg_bin/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null)
    PG_CTL="${as[*]} $pg_bin/pg_ctl"
    (cd "$WORK" && $PG_CTL -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $pg_port -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null)
    echo "==> PostgreSQL on port $pg_port; $REPLICAS replicas on ports $PORT-$((PORT + REPLICAS - 1))"
  fi
  for i in $(seq 0 $((REPLICAS - 1))); do
    [ "$REPLICAS" -gt 1 ] && cluster_env=(RUNTIME_CLUSTER_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres" RUNTIME_REPLICA_ID="r$i")
    env -i PATH="$PATH" PORT="$((PORT + i))" RUNTIME_HOST=127.0.0.1 RUNTIME_MASTER_KEY="$MASTER" \
      RUNTIME_PLUGIN_DIRS="${PLUGIN_DIRS:-$ROOT/plugins}" RUNTIME_WORKER_DIRS="$WORK/apps" RUNTIME_STATE_DIR="$WORK/state" \
      RUNTIME_LOG_LEVEL=warn BUNTIME_BUN="$BUN" "${cluster_env[@]}" "$BIN" >"$WORK/runtime$i.log" 2>&1 &
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
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
