#!/usr/bin/env bash
# Sets up and runs every test: the Rust workspace (unit, integration, binary and doc tests) and
# the Bun tests of the JS packages and example plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_CARGO_BUILD=1 scripts/setup.sh

# The database plugin's postgres and mysql tests start throwaway PostgreSQL and MariaDB servers of
# their own (a temp data dir, a free port); they need the server binaries only. Under CI (`CI`
# set) they fail without them, elsewhere they skip. Install the missing ones when we can
# (root + apt-get), without starting the system services.
have_postgres() { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
have_mariadb() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }
missing=()
have_postgres || missing+=(postgresql)
have_mariadb || missing+=(mariadb-server)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${missing[*]} for the database tests (apt-get install; no service is started)"
    policy_rc=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy_rc" ]; then
      # Debian's convention for "do not start services from package scripts".
      printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod +x "$policy_rc" && added_policy=1
    fi
    status=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || status=$?
    if [ -n "$added_policy" ]; then rm -f "$policy_rc"; fi
    [ "$status" = 0 ] || { echo "apt-get install ${missing[*]} failed ($status)" >&2; exit "$status"; }
    have_postgres || { echo "PostgreSQL was installed but initdb is not found" >&2; exit 1; }
    have_mariadb || { echo "MariaDB was installed but mariadbd is not found" >&2; exit 1; }
  else
    echo "==> not installed: ${missing[*]}; those database tests will skip (fail under CI); install with: apt-get install ${missing[*]}"
  fi
fi

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
