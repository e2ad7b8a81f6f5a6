#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests) and
# the Bun tests of the JS packages and example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh

# The database plugin's postgres tests start throwaway PostgreSQL servers of their own (initdb in a
# temp dir, a free port); they need the server binaries only. Under CI (`CI` set) they fail
# without them, elsewhere they skip. Install them when missing and we can (root + apt-get),
# without starting the system service.
have_postgres() { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
if ! have_postgres; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing PostgreSQL for the database tests (apt-get install postgresql; no service is started)"
    policy_rc=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy_rc" ]; then
      # Debian's convention for "do not start services from package scripts".
      printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod +x "$policy_rc" && added_policy=1
    fi
    status=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } || status=$?
    if [ -n "$added_policy" ]; then rm -f "$policy_rc"; fi
    [ "$status" = 0 ] || { echo "apt-get install postgresql failed ($status)" >&2; exit "$status"; }
    have_postgres || { echo "PostgreSQL was installed but initdb is not found" >&2; exit 1; }
  else
    echo "==> PostgreSQL is not installed: the postgres tests will skip (fail under CI); install it with: apt-get install postgresql"
  fi
fi
BUN="$PWD/.tools/node_modules/bun/bin/bun.exe"

echo "==> cargo test (workspace)"
cargo test --workspace --locked

echo "==> tsc (packages, example plugins, plugin host)"
"$BUN" x tsc --noEmit -p tsconfig.json

echo "==> bun test (packages and example plugins)"
for dir in packages/* examples/plugins/*; do
  [ -d "$dir" ] || continue
  if [ -n "$(find "$dir" -name '*.test.ts' -not -path '*/node_modules/*' -print -quit)" ]; then
    (cd "$dir" && "$BUN" test)
  fi
done
echo "==> all tests passed"
