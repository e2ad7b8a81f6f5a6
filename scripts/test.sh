#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests, some
# against throwaway PostgreSQL, MariaDB and sqld servers), tsc, and the Bun tests of the JS packages, the
# admin shell (in headless Chromium, against the target/debug/buntime that cargo test built) and
# the example plugins; the Helm chart, and the container image where the machine allows.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh
scripts/system-deps.sh
scripts/install-sqld.sh
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> Helm chart: lint, template, Kubernetes schemas (scripts/chart-test.sh)"
scripts/chart-test.sh

# The container image, built from the binary cargo test just built (no Rust compiled in it; about
# 2 minutes cold, 40 s with the base image cached). Needs root for podman and debootstrap:
# BUNTIME_IMAGE_TEST=0 skips it, =1 insists on it.
case "${BUNTIME_IMAGE_TEST:-auto}" in
  0) echo "==> image test skipped (BUNTIME_IMAGE_TEST=0)" ;;
  1) scripts/image-test.sh ;;
  *)
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "==> container image (scripts/image-test.sh)"
      scripts/image-test.sh
    else
      echo "==> image test skipped: needs root for podman and debootstrap (run scripts/image-test.sh as root)"
    fi
    ;;
esac

echo "==> tsc (packages, example plugins, plugin host)"
"$BUN" x tsc --noEmit -p tsconfig.json

echo "==> bun test (packages, the admin shell and the plugin UIs with their browser tests, example plugins)"
for dir in packages/* apps/cpanel plugins/*/ui examples/plugins/*; do
  [ -d "$dir" ] || continue
  if [ -n "$(find "$dir" -name '*.test.ts' -not -path '*/node_modules/*' -print -quit)" ]; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
