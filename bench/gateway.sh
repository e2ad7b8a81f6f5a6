#!/usr/bin/env bash
# What plugin-gateway's hooks add to a native route: the hello route (`GET /hello/api/greeting`)
# through the real pipeline, in process, alone and behind the gateway (CORS for an allowed origin
# with credentials, plus rate limiting with a bucket that never runs out), and the rate at which
# an exhausted bucket sheds 429s against the hello route's own rate, interleaved in one run so
# machine load hits all alike. In process, because the difference is a few µs, well under the
# jitter of an HTTP load test on a shared machine. Env: ROUNDS (20), PER_ROUND (2000);
# SKIP_BUILD=1 reuses the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SKIP_BUILD:-0}" != "1" ]; then
  echo "==> building the benchmark (release)"
  cargo build --release -q -p buntime-plugin-gateway --example pipeline_bench
fi
echo "==> load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ROUNDS="${ROUNDS:-20}" PER_ROUND="${PER_ROUND:-2000}" RUNTIME_LOG_LEVEL=warn ./target/release/examples/pipeline_bench
echo "==> load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
