#!/usr/bin/env bash
# Sets up (Bun, JS packages, release build) and serves Buntime with its bundled plugins and the
# example apps on http://localhost:${PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export RUNTIME_PLUGIN_DIRS="${RUNTIME_PLUGIN_DIRS:-./plugins}"
export RUNTIME_WORKER_DIRS="${RUNTIME_WORKER_DIRS:-./apps}"
exec ./target/release/buntime "$@"
