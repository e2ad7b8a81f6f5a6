#!/usr/bin/env bash
# Download of a 200 MB app directory as zip through the deployments plugin, against baselines in
# the same run: `cat` of the same files (disk and page cache), `python3 -m zipfile -c` of the same
# directory (an archiver writing a file), and curl of one 200 MB static file served by the same
# runtime. Reports MB/s for each, and the runtime's RSS idle, and its peak (VmHWM) after the zip
# downloads: the archive is streamed, so the peak must not grow with the directory.
#
# The tree: 2000 files of 100 KiB of base64 text (compressible like code) in 20 folders.
# Also the runtime's CPU seconds per zip download, which a busy machine disturbs less than MB/s.
# Env: BIN (default: the release binary, built here), SIZE_MB (200), RUNS (3), PORT (18190).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SIZE_MB="${SIZE_MB:-200}"
RUNS="${RUNS:-3}"
PORT="${PORT:-18190}"
KEY="btk_QmVuY2hEZXBsb3ltZW50c01hc3RlcktleUZvcg"
if [ -z "${BIN:-}" ]; then
  echo "==> building the runtime (release)" >&2
  cargo build --release -q --bin buntime
  BIN="$ROOT/target/release/buntime"
fi

WORK="$(mktemp -d)"
PID=""
cleanup() {
  [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null && sleep 1 && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> writing a ${SIZE_MB} MB app directory" >&2
python3 - "$WORK/apps/big/1.0.0" "$SIZE_MB" <<'PY'
import base64, os, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
files = size_mb * 10
for i in range(files):
    d = os.path.join(root, f"dir{i % 20:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i:05d}.js"), "wb") as f:
        f.write(base64.b64encode(os.urandom(76800))[:102400])
with open(os.path.join(root, "index.html"), "w") as f:
    f.write("<html><head></head><body>big</body></html>")
PY
mkdir -p "$WORK/apps/static/1.0.0"
printf '<html><head></head><body>static</body></html>' > "$WORK/apps/static/1.0.0/index.html"
cat "$WORK"/apps/big/1.0.0/dir*/* > "$WORK/apps/static/1.0.0/big.bin"
BYTES=$(du -sb "$WORK/apps/big/1.0.0" | cut -f1)

(cd "$WORK" && exec env -i PATH="$PATH" HOME="$HOME" PORT="$PORT" RUNTIME_HOST=127.0.0.1 NODE_ENV=production \
  RUNTIME_LOG_LEVEL=warn RUNTIME_MASTER_KEY="$KEY" RUNTIME_WORKER_DIRS="$WORK/apps" \
  RUNTIME_PLUGIN_DIRS="$ROOT/plugins" RUNTIME_STATE_DIR="$WORK/state" "$BIN" >"$WORK/runtime.log" 2>&1) &
PID=$!
for _ in $(seq 1 100); do
  if curl -sf -o /dev/null -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/deployments/api/list"; then break; fi
  sleep 0.2
done
rss() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$PID/status"; }
mbps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1e6 / float(sys.argv[2]):.0f}')" "$1" "$2"; }
# Best of RUNS: `cmd` prints seconds.
best() {
  local b=""
  for _ in $(seq 1 "$RUNS"); do
    local t; t=$("$@")
    b=$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:] if x]; print(min(a))" "$t" $b)
  done
  echo "$b"
}
timed() { python3 -c "import subprocess, sys, time; t=time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(time.perf_counter()-t)" "$@"; }

cat "$WORK"/apps/big/1.0.0/dir*/* > /dev/null  # warm the page cache
IDLE=$(rss VmRSS)
T_CAT=$(best timed sh -c "cat '$WORK'/apps/big/1.0.0/dir*/* > /dev/null")
T_PY=$(best timed python3 -m zipfile -c "$WORK/py.zip" "$WORK/apps/big/1.0.0")
zip_dl() { curl -sf -H "X-API-Key: $KEY" -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/deployments/api/download?path=apps/big/1.0.0"; }
# The runtime's CPU seconds (user + system) so far: on a shared machine, wall time alone says
# more about the neighbours than about the code.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$PID/stat"; }
CPU0=$(cpu)
T_ZIP=$(best zip_dl)
CPU_ZIP=$(python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) / int(sys.argv[3]):.2f}')" "$CPU0" "$(cpu)" "$RUNS")
PEAK=$(rss VmHWM)
curl -sf -H "X-API-Key: $KEY" -o "$WORK/dl.zip" "http://127.0.0.1:$PORT/deployments/api/download?path=apps/big/1.0.0"
ZIP_BYTES=$(stat -c %s "$WORK/dl.zip")
python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(f'    (python zipfile read back {len(z.namelist())} entries)')" "$WORK/dl.zip" >&2
static_dl() { curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/static/big.bin"; }
T_STATIC=$(best static_dl)
PEAK_STATIC=$(rss VmHWM)

echo "download of a $((BYTES / 1000000)) MB app directory (best of $RUNS; binary: $BIN)"
printf '%-44s %8s %10s\n' "what" "MB/s" "seconds"
printf '%-44s %8s %10.2f\n' "cat of the files (page cache)" "$(mbps "$BYTES" "$T_CAT")" "$T_CAT"
printf '%-44s %8s %10.2f\n' "python3 -m zipfile -c (stored, to a file)" "$(mbps "$BYTES" "$T_PY")" "$T_PY"
printf '%-44s %8s %10.2f\n' "runtime: one 200 MB static file (curl)" "$(mbps "$BYTES" "$T_STATIC")" "$T_STATIC"
printf '%-44s %8s %10.2f\n' "runtime: deployments zip download (curl)" "$(mbps "$BYTES" "$T_ZIP")" "$T_ZIP"
echo "zip size: $((ZIP_BYTES / 1000000)) MB (deflate, fast level); runtime CPU per zip download: ${CPU_ZIP} s ($(mbps "$BYTES" "$CPU_ZIP") MB per CPU-second)"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "runtime RSS: idle ${IDLE} MiB, peak after $RUNS zip downloads ${PEAK} MiB, peak after the static file ${PEAK_STATIC} MiB"
