#!/usr/bin/env bash
# Draws PNG plots from orchestrator-bench JSON reports with gnuplot: latency
# over time, the latency distribution and throughput per second. Reports
# without load figures (join, scale) are skipped.
#
# Usage: scripts/bench-plot.sh REPORT.json... OUTDIR
# Needs gnuplot (Debian: gnuplot-nox) and jq; scripts/install-deps.sh
# installs both.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 REPORT.json... OUTDIR" >&2
  exit 2
fi
for tool in gnuplot jq; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool is missing; run scripts/install-deps.sh" >&2
    exit 1
  fi
done

out="${!#}"
mkdir -p "$out"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

for report in "${@:1:$#-1}"; do
  name=$(basename "$report" .json)
  if ! jq -e '.load' "$report" >/dev/null; then
    echo "$report: no load figures, skipped"
    continue
  fi
  title=$(jq -r '"\(.scenario), \(if (.settings.rate_per_s // 0) == 0 then "as fast as possible" else "\(.settings.rate_per_s) req/s requested" end), \(.date)"' "$report")
  jq -r '.load.timeline[] | "\(.second) \(.p50_ms) \(.p99_ms) \(.max_ms) \(.ok_completed)"' \
    "$report" >"$data/ours.dat"
  # x is 1 / (1 - q), so p90, p99 and p99.9 sit a decade apart.
  jq -r '.load.distribution[] | select(.quantile < 1) | "\(1 / (1 - .quantile)) \(.latency_ms)"' \
    "$report" >"$data/ours-dist.dat"
  ceiling=false
  if jq -e '.ceiling.load' "$report" >/dev/null; then
    ceiling=true
    jq -r '.ceiling.load.timeline[] | "\(.second) \(.p50_ms) \(.p99_ms) \(.max_ms) \(.ok_completed)"' \
      "$report" >"$data/nginx.dat"
    jq -r '.ceiling.load.distribution[] | select(.quantile < 1) | "\(1 / (1 - .quantile)) \(.latency_ms)"' \
      "$report" >"$data/nginx-dist.dat"
  fi

  common="set terminal pngcairo size 1000,600 font ',10'; set grid; set key top left;"

  gnuplot <<PLOT
$common
set output '$out/$name-latency-over-time.png'
set title "Latency per second of scheduled send: $title"
set xlabel 'second of the recorded run'
set ylabel 'latency (ms, log scale)'
set logscale y
plot '$data/ours.dat' using 1:2 with linespoints title 'p50', \
     '' using 1:3 with linespoints title 'p99', \
     '' using 1:4 with linespoints title 'max'
PLOT

  dist_plot="'$data/ours-dist.dat' using 1:2 with linespoints title 'orchestrator'"
  rate_plot="'$data/ours.dat' using 1:5 with linespoints title 'orchestrator'"
  if $ceiling; then
    dist_plot+=", '$data/nginx-dist.dat' using 1:2 with linespoints title 'nginx (as fast as possible)'"
    rate_plot+=", '$data/nginx.dat' using 1:5 with linespoints title 'nginx (as fast as possible)'"
  fi

  gnuplot <<PLOT
$common
set output '$out/$name-latency-distribution.png'
set title "Latency distribution: $title"
set xlabel 'percentile'
set ylabel 'latency (ms, log scale)'
set logscale xy
set xtics ("p0" 1, "p50" 2, "p90" 10, "p99" 100, "p99.9" 1000, "p99.99" 10000, "p99.999" 100000)
plot $dist_plot
PLOT

  gnuplot <<PLOT
$common
set output '$out/$name-throughput.png'
set title "Successful replies per second: $title"
set xlabel 'second of the recorded run'
set ylabel 'replies per second'
set yrange [0:*]
plot $rate_plot
PLOT
  echo "$report: $out/$name-{latency-over-time,latency-distribution,throughput}.png"
done
