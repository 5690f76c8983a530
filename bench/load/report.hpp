#pragma once

// Turns the samples of a load run into the JSON figures and the table the
// bench prints.

#include "bench/load/http_load.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace orchestrator::bench {

/// The value at quantile `q` (0 to 1) of `sorted`, by the nearest-rank
/// method; 0 for no values.
double quantile(const std::vector<double>& sorted, double q);

/// count, mean, p50, p90, p99, p99_9 and max of `values` in milliseconds.
nlohmann::json latency_summary(std::vector<double> values);

/// Throughput, latency over every reply and per kind, errors by kind, a
/// timeline per second and the latency distribution.
nlohmann::json load_figures(const load_result& result,
                            const std::vector<std::string>& kind_names);

/// Prints the summary table of a report: the load figures, then the
/// scenario's own figures one per line.
void print_table(const nlohmann::json& report);

} // namespace orchestrator::bench
