# Sourced by image-build.sh and image-test.sh: picks the container engine ($TOOL) and the options
# this machine needs to run a container ($ENGINE_OPTS, for `build` and `run` alike).
#
# On a stock machine that is nothing. Some sandboxes (this project's CI among them) mount cgroups
# in hybrid mode with a controller on the v2 hierarchy, which crun refuses, and withhold
# CAP_SYS_RESOURCE, so podman's default rlimits (raised to the maximum for root) cannot be set:
# there runc with explicit rlimits at or below the current ones works. A probe finds out which.

engine_pick() {
  TOOL="${CONTAINER_TOOL:-}"
  if [ -z "$TOOL" ]; then
    if command -v podman >/dev/null; then TOOL=podman; elif docker info >/dev/null 2>&1; then TOOL=docker; else TOOL=podman; fi
  fi
}

# engine_probe IMAGE: sets ENGINE_OPTS to the first option set that runs `true` in IMAGE.
engine_probe() {
  local image="$1" nofile nproc err
  ENGINE_OPTS=()
  [ "$TOOL" = podman ] || return 0
  err="$(podman run --rm --entrypoint /bin/true "$image" 2>&1)" && return 0
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=65536
  nproc="$(ulimit -Hu)"; { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
  local fallback=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
  if command -v runc >/dev/null; then fallback=(--runtime runc "${fallback[@]}"); fi
  if podman run --rm --entrypoint /bin/true "${fallback[@]}" "$image" >/dev/null 2>&1; then
    ENGINE_OPTS=("${fallback[@]}")
    echo "==> podman needs ${ENGINE_OPTS[*]} on this machine (default run failed: ${err##*: })"
    return 0
  fi
  echo "image: podman cannot run a container here: $err" >&2
  command -v runc >/dev/null || echo "image: (apt-get install runc may help: crun refuses hybrid cgroups)" >&2
  return 1
}
