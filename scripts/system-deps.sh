#!/usr/bin/env bash
# Installs the system programs the tests drive, from Debian's packages, when they are missing:
# PostgreSQL and MariaDB server binaries (the database tests start throwaway servers of their own
# on a temp dir and a free port), Prometheus' promtool (checks the metrics exposition) and
# Chromium (the admin UI's browser tests), tmux (`buntime tui` in a real terminal), openssl (a self-signed TLS server for the client). One apt-get run for all of them; no system service is
# started. Without root or apt-get it only says what is missing: those tests then skip, and fail
# under CI (`CI` set).
set -euo pipefail

have_postgres() { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
have_mariadb() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }
have_promtool() { command -v promtool >/dev/null 2>&1; }
have_chromium() { [ -x /usr/bin/chromium ]; }
have_tmux() { command -v tmux >/dev/null 2>&1; }
have_openssl() { command -v openssl >/dev/null 2>&1; }

missing=()
have_postgres || missing+=(postgresql)
have_mariadb || missing+=(mariadb-server)
have_promtool || missing+=(prometheus)
have_chromium || missing+=(chromium)
have_tmux || missing+=(tmux)
have_openssl || missing+=(openssl)
if [ "${#missing[@]}" = 0 ]; then
  echo "==> system programs for the tests: PostgreSQL, MariaDB, promtool, Chromium, tmux, openssl present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "==> not installed: ${missing[*]}; the tests that need them skip (and fail under CI); install with: apt-get install ${missing[*]}"
  exit 0
fi

echo "==> installing ${missing[*]} from Debian for the tests (no service is started)"
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
# Debian's prometheus package may leave a server running despite policy-rc.d on some images.
pkill -x prometheus 2>/dev/null || true
have_postgres || { echo "PostgreSQL was installed but initdb is not found" >&2; exit 1; }
have_mariadb || { echo "MariaDB was installed but mariadbd is not found" >&2; exit 1; }
have_promtool || { echo "prometheus was installed but promtool is not found" >&2; exit 1; }
have_chromium || { echo "chromium was installed but /usr/bin/chromium is not found" >&2; exit 1; }
