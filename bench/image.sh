#!/usr/bin/env bash
# Measures the container image: its size (as stored, and gzip-compressed as a registry would hold
# it), each layer, and start to ready: from `podman run` to /api/health/ready answering 200, next
# to the runtime's own "Runtime ready" elapsed_ms and to a `podman run` of /bin/true (the
# container engine's own cost, the baseline), over RUNS containers (default 5), as
# docs/performance.md reports them. Builds the image first (scripts/image-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
IMAGE="$(scripts/image-build.sh | tail -n1)"
# shellcheck source=../scripts/image/engine.sh
. scripts/image/engine.sh
engine_pick
engine_probe "$IMAGE" >/dev/null
echo "image: $IMAGE"
echo "size: $(( $(podman image inspect "$IMAGE" --format '{{.Size}}') / 1000000 )) MB stored, $(( $(podman save "$IMAGE" 2>/dev/null | gzip -c | wc -c) / 1000000 )) MB gzip"
podman history "$IMAGE" --format '{{.Size}}	{{.CreatedBy}}' | awk -F'\t' '$1 != "0 B" { print "  layer " $1 "\t" substr($2, 1, 70) }'
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
for i in $(seq "$RUNS"); do
  # Baseline in the same run: what podman itself takes to create, start and remove a container.
  b0="$(date +%s%N)"
  podman run --rm "${ENGINE_OPTS[@]}" --entrypoint /bin/true "$IMAGE" >/dev/null 2>&1
  base=$((($(date +%s%N) - b0) / 1000000))
  ctr="buntime-bench-$$-$i"
  t0="$(date +%s%N)"
  podman run -d --name "$ctr" "${ENGINE_OPTS[@]}" -p "127.0.0.1:$port:8000" "$IMAGE" >/dev/null 2>&1
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health/ready")" = 200 ]; do
    [ $(($(date +%s%N) - t0)) -lt 60000000000 ] || { echo "not ready after 60 s" >&2; podman rm -f -t 0 "$ctr" >/dev/null 2>&1; exit 1; }
    sleep 0.01
  done
  total=$((($(date +%s%N) - t0) / 1000000))
  inner="$(podman logs "$ctr" 2>&1 | grep -o '"message":"Runtime ready.*"elapsed_ms":[0-9]*' | grep -o '[0-9]*$' || echo '?')"
  echo "run $i: ready $total ms after podman run (runtime's own start to ready: $inner ms; podman run of /bin/true: $base ms)"
  podman rm -f -t 0 "$ctr" >/dev/null 2>&1
done
