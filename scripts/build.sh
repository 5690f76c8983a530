#!/usr/bin/env bash
# Configures and builds into build/, with warnings as errors. With a target
# name as argument, builds only that target (for example orchestrator);
# without, builds everything, tests and benchmarks included.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCHESTRATOR_WERROR=ON >/dev/null
cmake --build build --parallel "$(nproc)" ${1:+--target "$1"}
