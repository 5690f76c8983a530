#!/usr/bin/env bash
# Installs what is missing, builds everything with warnings as errors, and
# runs every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600
