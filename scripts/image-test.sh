#!/usr/bin/env bash
# Builds the container image (scripts/image-build.sh: the host's buntime binary copied in, no Rust
# compiled) and runs it the way a user would:
#   1. it starts as a non-root user under tini, /api/health/ready answers 200, HEALTHCHECK passes;
#   2. the bundled plugins, the admin shell, an app from the /data volume and an app deployed with
#      `buntime apps deploy` through the REST API (master key) are served;
#   3. what is written under /data (a keyval entry, an upload) survives a new container on the same
#      volume, run as the chart runs it (read-only root, tmpfs for /tmp and $HOME);
#   4. SIGTERM: an in-flight request still completes, the container exits 0, and the log says it drained.
# Needs root (podman, debootstrap); about a minute once the base image is cached, two without.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=0
step() { steps=$((steps + 1)); echo "==> image-test: $*"; }
fail() { echo "image-test: FAILED: $*" >&2; [ -n "${CTR:-}" ] && podman logs --tail 40 "$CTR" >&2 2>&1 || true; exit 1; }

# The build log goes to stderr through a pipe: `tee /dev/stderr` would reopen the file stderr is
# redirected to and truncate everything logged before it (a CI log lost its first part so).
IMAGE="$(scripts/image-build.sh | tee >(cat >&2) | tail -n1)"
# shellcheck source=image/engine.sh
. scripts/image/engine.sh
engine_pick
[ "$TOOL" = podman ] || fail "the image test drives podman (CONTAINER_TOOL=$TOOL)"
engine_probe "$IMAGE" >/dev/null

# The client is the binary the image ships.
# shellcheck source=image/binary.sh
. scripts/image/binary.sh
pick_binary || exit 1
WORK="$(mktemp -d /tmp/buntime-image-test.XXXXXX)"
CTR=""
cleanup() {
  [ -n "$CTR" ] && podman rm -f -t 0 "$CTR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# /data as an operator would prepare it: an app already there, owned by the image's user.
DATA="$WORK/data"
mkdir -p "$DATA/apps" "$DATA/plugins" "$DATA/state"
cp -r apps/hello-app "$DATA/apps/hello-app"
mkdir -p "$DATA/apps/slow"
cat >"$DATA/apps/slow/index.ts" <<'EOF'
// Answers after ?ms= milliseconds: an in-flight request for the SIGTERM drain check.
export default {
  async fetch(req: Request): Promise<Response> {
    const ms = Number(new URL(req.url).searchParams.get("ms") ?? "0");
    await Bun.sleep(ms);
    return Response.json({ slept: ms });
  },
};
EOF
printf 'ttl: 60s\ntimeout: 20s\n' >"$DATA/apps/slow/manifest.yaml"
chown -R 10001:10001 "$DATA"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
KEY="image-test-master-key-$RANDOM$RANDOM"

# start N [PODMAN_RUN_ARGS...]
start() {
  CTR="buntime-image-test-$$-$1"
  local n="$1"
  shift
  local t0 code="" ms
  t0="$(date +%s%N)"
  podman run -d --name "$CTR" "${ENGINE_OPTS[@]}" "$@" -p "127.0.0.1:$PORT:8000" -v "$DATA:/data" \
    -e RUNTIME_MASTER_KEY="$KEY" -e RUNTIME_SHUTDOWN_GRACE_MS=15000 "$IMAGE" >/dev/null 2>>"$WORK/podman.log" \
    || fail "podman run"
  while [ $(($(date +%s%N) - t0)) -lt 60000000000 ]; do
    code="$(curl -s -o "$WORK/ready.json" -w '%{http_code}' "$URL/api/health/ready" || true)"
    [ "$code" = 200 ] && break
    [ "$(podman inspect -f '{{.State.Running}}' "$CTR")" = true ] || fail "the container exited before it was ready"
    sleep 0.2
  done
  [ "$code" = 200 ] || fail "/api/health/ready answered '$code' after 60 s"
  ms=$((($(date +%s%N) - t0) / 1000000))
  step "container $n ready $ms ms after podman run started: $(cat "$WORK/ready.json")"
}

# expect STATUS URL [CURL_ARGS...]: the body goes to $WORK/body.
expect() {
  local want="$1" url="$2" got
  shift 2
  got="$(curl -s -o "$WORK/body" -w '%{http_code}' "$@" "$url" || true)"
  [ "$got" = "$want" ] || fail "$url answered $got, expected $want: $(head -c 300 "$WORK/body" 2>/dev/null)"
}
contains() { grep -q -- "$1" "$WORK/body" || fail "expected '$1' in: $(head -c 300 "$WORK/body")"; }

start 1

step "non-root, tini as PID 1, HEALTHCHECK"
[ "$(podman exec "$CTR" id -u)" = 10001 ] || fail "the runtime does not run as uid 10001"
[ "$(podman exec "$CTR" cat /proc/1/comm)" = tini ] || fail "PID 1 is not tini"
podman exec "$CTR" sh -c 'touch /opt/buntime/x' 2>/dev/null && fail "/opt/buntime is writable by the runtime user"
podman healthcheck run "$CTR" >/dev/null 2>>"$WORK/podman.log" || fail "podman healthcheck run reported unhealthy"
[ "$(podman inspect -f '{{.Config.Healthcheck.Test}}' "$CTR")" = "[CMD /opt/buntime/bin/healthcheck]" ] || fail "no HEALTHCHECK in the image"

step "plugins, admin shell, apps"
expect 200 "$URL/api/health/live"
expect 200 "$URL/hello/api/greeting"; contains '"message":"Hello from Buntime"'
expect 200 "$URL/cpanel/"; contains '<base href="/cpanel/"'
# A bundled plugin's own page (its ui/dist, beside its manifest in the image).
expect 200 "$URL/keyval/"; contains 'KeyVal</title>'
expect 200 "$URL/hello-app/from-the-volume"; contains '"path":"/from-the-volume"'
# Production: the REST API needs the key.
expect 401 "$URL/api/apps"
expect 200 "$URL/api/apps" -H "X-API-Key: $KEY"; contains '"name":"hello-app"'
expect 200 "$URL/api/plugins/loaded"; contains '@buntime/plugin-keyval'

step "buntime apps deploy through the REST API"
export XDG_CONFIG_HOME="$WORK/config" HOME="$WORK/home"
mkdir -p "$HOME"
"$BIN" remote add image --url "$URL" --token "$KEY" >/dev/null || fail "buntime remote add"
mkdir -p "$WORK/greet"
printf 'export default { fetch: () => new Response("deployed into the container") };\n' >"$WORK/greet/index.ts"
printf 'name: greet\nversion: 1.0.0\n' >"$WORK/greet/manifest.yaml"
"$BIN" apps deploy "$WORK/greet" --remote image >/dev/null || fail "buntime apps deploy"
expect 200 "$URL/greet"; contains 'deployed into the container'
[ -d "$DATA/apps/greet" ] || fail "the deployed app is not under /data/apps"

step "state on /data outlives the container"
expect 200 "$URL/keyval/api/keys/image-test/a" -X PUT -H 'Content-Type: application/json' -H "X-API-Key: $KEY" -d '{"n":42}'
podman rm -f -t 15 "$CTR" >/dev/null 2>>"$WORK/podman.log"
# The second container as the Helm chart runs it: read-only root, tmpfs for /tmp and $HOME.
start 2 --read-only --tmpfs /tmp --tmpfs /home/buntime:mode=1777
expect 200 "$URL/keyval/api/keys/image-test/a"; contains '"n":42'
expect 200 "$URL/greet"; contains 'deployed into the container'
expect 200 "$URL/hello-app/read-only-root"; contains '"path":"/read-only-root"'

step "SIGTERM drains an in-flight request and exits 0"
expect 200 "$URL/slow?ms=0"
curl -s -o "$WORK/slow.json" -w '%{http_code}' "$URL/slow?ms=3000" >"$WORK/slow.code" &
inflight=$!
sleep 1
t0=$SECONDS
podman kill --signal TERM "$CTR" >/dev/null 2>>"$WORK/podman.log"
wait "$inflight" || true
[ "$(cat "$WORK/slow.code")" = 200 ] || fail "the in-flight request got $(cat "$WORK/slow.code") during the drain"
grep -q '"slept":3000' "$WORK/slow.json" || fail "the in-flight request's body: $(cat "$WORK/slow.json")"
status="$(podman wait "$CTR" 2>>"$WORK/podman.log")"
[ "$status" = 0 ] || fail "the container exited $status after SIGTERM"
logs="$(podman logs "$CTR" 2>&1)"
grep -q '"signal":"SIGTERM"' <<<"$logs" || fail "the log does not show SIGTERM reaching buntime"
grep -q 'draining in-flight requests' <<<"$logs" || fail "no drain line in the log"
step "stopped in $((SECONDS - t0)) s after SIGTERM, exit 0"

size="$(podman image inspect "$IMAGE" --format '{{.Size}}')"
echo "image-test: $IMAGE $((size / 1024 / 1024)) MiB; $steps passed, 0 failed"
