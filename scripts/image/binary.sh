# Sourced: sets BIN to the buntime binary to ship or drive: $BUNTIME_BINARY, else the newer of
# target/release/buntime and target/debug/buntime (a stale release build must not hide a fresh
# debug one, as after `cargo test`), as an absolute path. Empty when there is none; fails when
# BUNTIME_BINARY names no executable.
pick_binary() {
  BIN="${BUNTIME_BINARY:-}"
  if [ -n "$BIN" ]; then
    [ -x "$BIN" ] || { echo "BUNTIME_BINARY=$BIN is not an executable file" >&2; return 1; }
    BIN="$(realpath "$BIN")"
    return 0
  fi
  local c
  for c in target/release/buntime target/debug/buntime; do
    [ -x "$c" ] || continue
    if [ -z "$BIN" ] || [ "$c" -nt "$BIN" ]; then BIN="$c"; fi
  done
  [ -z "$BIN" ] || BIN="$(realpath "$BIN")"
}
