#!/usr/bin/env bash
# Runs every orchestrator-bench scenario with the settings recorded in
# docs/benchmarks.md, writing the JSON reports and PNG plots to OUTDIR
# (default docs/bench). Builds orchestrator-bench first. Takes about seven
# minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-docs/bench}
mkdir -p "$out"
scripts/build.sh orchestrator-bench
bench=build/orchestrator-bench

run() {
  local name=$1
  shift
  echo "== $name: $bench $*"
  nice -n 10 "$bench" "$@" --json "$out/$name.json"
}

run heartbeat-max heartbeat --rate 0 --duration 10 --ceiling-duration 10
run heartbeat-20k heartbeat --rate 20000 --duration 10 --no-ceiling
for rate in 5000 10000 30000 40000; do
  run "heartbeat-$((rate / 1000))k" heartbeat --rate "$rate" --duration 10 --no-ceiling
done
for streams in 1 10 100; do
  run "heartbeat-streams-$streams" heartbeat --rate 0 --duration 8 --no-ceiling \
    --workers 500 --streams-per-worker "$streams"
done
run churn-assign-release churn --mix assign=1,release=1 --rate 1000 --duration 20
run churn-mixed churn --rate 1000 --duration 10
run failover failover
run join join
run join-large join --workers 1000 --streams 100000
run restart restart --duration 10
run scale scale --scale-points 10000x100,100000x1000,1000000x10000

scripts/bench-plot.sh "$out"/heartbeat-*.json "$out"/churn-*.json "$out"/restart.json "$out"
