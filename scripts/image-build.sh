#!/usr/bin/env bash
# Builds the container image (Dockerfile) from what the host already built: no Rust is compiled in
# the image. It assembles the build context in target/image/context (the buntime binary, stripped;
# the pinned Bun; each bundled plugin's manifest; the admin shell), makes sure a Debian base image
# exists, and runs `podman build` (or docker). Prints the image name last.
#
#   BUNTIME_IMAGE=buntime:dev         the tag to build
#   BUNTIME_BINARY=path               the binary to ship (default: the newer of target/release/buntime and target/debug/buntime)
#   BUNTIME_BASE_IMAGE=ref            a base image to use as is (e.g. docker.io/library/debian:bookworm-slim)
#   CONTAINER_TOOL=podman|docker      (default: podman when installed)
#
# Without BUNTIME_BASE_IMAGE no registry is needed: the base is a Debian 12 rootfs made by
# debootstrap from Debian's packages (with tini and ca-certificates), cached as
# .tools/image/base-<hash>.tar and imported once as localhost/buntime-base:<hash>.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${BUNTIME_IMAGE:-localhost/buntime:dev}"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_PACKAGES="tini,ca-certificates"

# shellcheck source=image/engine.sh
. scripts/image/engine.sh
engine_pick
need_tools=()
command -v "$TOOL" >/dev/null || need_tools+=("$TOOL")
# runc: the fallback engine_probe uses where crun cannot start containers.
[ "$TOOL" != podman ] || command -v runc >/dev/null || need_tools+=(runc)
[ -n "${BUNTIME_BASE_IMAGE:-}" ] || command -v debootstrap >/dev/null || need_tools+=(debootstrap)
if [ "${#need_tools[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need_tools[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need_tools[@]}" >/dev/null 2>&1 \
      || { apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need_tools[@]}" >/dev/null; }
  else
    echo "image-build: ${need_tools[*]} not installed; install with: apt-get install ${need_tools[*]}" >&2
    exit 1
  fi
fi

# --- the binary, Bun and the admin shell -------------------------------------------------------
# shellcheck source=image/binary.sh
. scripts/image/binary.sh
pick_binary || exit 1
BINARY="$BIN"
[ -n "$BINARY" ] && [ -x "$BINARY" ] || {
  echo "image-build: no buntime binary; build one first: cargo build --release --bin buntime (or set BUNTIME_BINARY)" >&2
  exit 1
}
BUN=".tools/node_modules/bun/bin/bun.exe"
if [ ! -x "$BUN" ] || [ ! -f apps/cpanel/dist/index.html ]; then
  SKIP_CARGO_BUILD=1 scripts/setup.sh
fi

# --- the build context ---------------------------------------------------------------------------
CTX=target/image/context
rm -rf "$CTX"
mkdir -p "$CTX/bin" "$CTX/plugins" "$CTX/apps"
# Debug info is most of a debug binary's size and none of its behaviour.
strip --strip-debug -o "$CTX/bin/buntime" "$BINARY"
cp "$BUN" "$CTX/bin/bun"
cp scripts/image/healthcheck "$CTX/healthcheck"
for dir in plugins/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/manifest.yaml" ] || continue
  mkdir -p "$CTX/plugins/$name"
  cp "$dir/manifest.yaml" "$CTX/plugins/$name/"
  # A plugin's page in the admin shell (built by scripts/setup.sh), served from beside its manifest.
  if [ -d "$dir/ui/dist" ]; then
    mkdir -p "$CTX/plugins/$name/ui"
    cp -r "$dir/ui/dist" "$CTX/plugins/$name/ui/dist"
  fi
done
mkdir -p "$CTX/apps/cpanel"
cp apps/cpanel/manifest.yaml "$CTX/apps/cpanel/"
cp -r apps/cpanel/dist "$CTX/apps/cpanel/dist"
echo "==> context: $BINARY ($(du -h "$CTX/bin/buntime" | cut -f1) stripped), bun $("$CTX/bin/bun" --version), $(ls "$CTX/plugins" | wc -l) plugins ($(ls -d "$CTX"/plugins/*/ui/dist 2>/dev/null | wc -l) with a UI), the admin shell"

# --- the base image ------------------------------------------------------------------------------
if [ -n "${BUNTIME_BASE_IMAGE:-}" ]; then
  BASE="$BUNTIME_BASE_IMAGE"
else
  recipe="debootstrap --variant=minbase --include=$BASE_PACKAGES $SUITE $MIRROR; slimmed v1"
  hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
  BASE="localhost/buntime-base:$SUITE-$hash"
  if ! "$TOOL" image exists "$BASE" 2>/dev/null && ! "$TOOL" image inspect "$BASE" >/dev/null 2>&1; then
    tarball=".tools/image/base-$SUITE-$hash.tar"
    if [ ! -f "$tarball" ]; then
      echo "==> making a Debian $SUITE rootfs with debootstrap ($BASE_PACKAGES)"
      [ "$(id -u)" = 0 ] || { echo "image-build: debootstrap needs root (or set BUNTIME_BASE_IMAGE)" >&2; exit 1; }
      rootfs="$(mktemp -d /tmp/buntime-rootfs.XXXXXX)"
      trap 'rm -rf "$rootfs"' EXIT
      debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
        tail -20 "$rootfs.log" >&2; echo "image-build: debootstrap failed (log above)" >&2; exit 1
      }
      rm -f "$rootfs.log"
      # What debian:*-slim leaves out too: caches, package lists, docs (copyright files stay), locales.
      rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
      find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
      mkdir -p .tools/image
      tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
      rm -rf "$rootfs"
      trap - EXIT
    fi
    echo "==> importing $tarball as $BASE"
    "$TOOL" import --change 'CMD ["/bin/bash"]' "$tarball" "$BASE" >/dev/null
  fi
fi

# --- the image -----------------------------------------------------------------------------------
engine_probe "$BASE"
previous="$("$TOOL" image inspect "$IMAGE" --format '{{.Id}}' 2>/dev/null || true)"
echo "==> $TOOL build $IMAGE (base $BASE)"
format=()
# Podman writes OCI images by default, and OCI has no HEALTHCHECK: ask for Docker's format.
[ "$TOOL" = podman ] && format=(--format docker)
"$TOOL" build "${format[@]}" "${ENGINE_OPTS[@]}" --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" -f Dockerfile "$CTX" >target/image/build.log 2>&1 || {
  tail -30 target/image/build.log >&2; echo "image-build: $TOOL build failed (target/image/build.log)" >&2; exit 1
}
# The image this tag named before, now untagged, is of no further use.
if [ -n "$previous" ] && [ "$previous" != "$("$TOOL" image inspect "$IMAGE" --format '{{.Id}}')" ]; then
  "$TOOL" rmi "$previous" >/dev/null 2>&1 || true
fi
size="$("$TOOL" image inspect "$IMAGE" --format '{{.Size}}')"
echo "==> built $IMAGE: $((size / 1024 / 1024)) MiB"
echo "$IMAGE"
