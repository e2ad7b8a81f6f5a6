# Sourced: sets BIN to the buntime binary to ship or drive: $BUNTIME_BINARY, else the newer of
# target/release/buntime and target/debug/buntime (a stale release build must not hide a fresh
# debug one, as after `cargo test`). Empty when there is none.
pick_binary() {
  BIN="${BUNTIME_BINARY:-}"
  [ -n "$BIN" ] && return 0
  local c
  for c in target/release/buntime target/debug/buntime; do
    [ -x "$c" ] || continue
    if [ -z "$BIN" ] || [ "$c" -nt "$BIN" ]; then BIN="$c"; fi
  done
}
