#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/, then fuzzes each for SECONDS
# starting from its committed corpus in tests/fuzz/corpus/<target>. New
# corpus entries go to build-fuzz/work/<target>/corpus and crashing inputs to
# build-fuzz/work/<target>/artifacts, never into the repository.
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]   (defaults: all, 60)
# Targets: fuzz_http_request fuzz_json_decode fuzz_registry_ops
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_http_request fuzz_json_decode fuzz_registry_ops)
target=${1:-all}
seconds=${2:-60}

if [[ $target == all ]]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $target "* ]]; then
  targets=("$target")
else
  echo "error: unknown fuzz target '$target'; use one of: ${all_targets[*]} or all" >&2
  exit 2
fi
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "error: SECONDS must be a positive whole number, not '$seconds'" >&2
  exit 2
fi

scripts/install-deps.sh --fuzz
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORCHESTRATOR_FUZZ=ON \
  -DORCHESTRATOR_WERROR=ON >/dev/null
nice -n 10 cmake --build build-fuzz --parallel "$(nproc)" --target "${targets[@]}"

failed=()
for name in "${targets[@]}"; do
  work="build-fuzz/work/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  dictionary=()
  if [[ -f tests/fuzz/$name.dict ]]; then
    dictionary=("-dict=tests/fuzz/$name.dict")
  fi
  echo "== $name: fuzzing for $seconds s, log in $work/fuzz.log"
  # The first folder receives new entries; the committed corpus is only read.
  status=0
  nice -n 10 "build-fuzz/tests/fuzz/$name" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "${dictionary[@]}" "$work/corpus" "tests/fuzz/corpus/$name" \
    >"$work/fuzz.log" 2>&1 || status=$?
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" \
    | grep -o '[0-9]*$' || true)
  crashes=$(find "$work/artifacts" -type f | wc -l)
  echo "   executions: ${executions:-unknown}, exit status: $status," \
    "inputs in $work/artifacts: $crashes"
  if [[ $status -ne 0 ]]; then
    failed+=("$name")
    tail -n 40 "$work/fuzz.log" >&2
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "error: fuzzing found failures in: ${failed[*]}; see build-fuzz/work/<target>/" >&2
  exit 1
fi
