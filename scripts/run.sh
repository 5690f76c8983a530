#!/usr/bin/env bash
# Installs what is missing, builds, and runs the orchestrator on its
# built-in defaults (127.0.0.1:8080, data in ./data). Arguments are passed to
# the orchestrator, for example --listen 127.0.0.1:9090.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh orchestrator
exec build/orchestrator "$@"
