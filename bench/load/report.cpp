#include "bench/load/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace orchestrator::bench {

using json = nlohmann::json;

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

namespace {

double round3(double x) {
  return std::round(x * 1000.0) / 1000.0;
}

json timeline(const load_result& result) {
  auto seconds = static_cast<std::size_t>(std::ceil(result.recorded_s));
  std::vector<std::vector<double>> per_second(seconds);
  std::vector<std::uint64_t> failed(seconds, 0);
  std::vector<std::uint64_t> completed(seconds, 0);
  for (const auto& s : result.samples) {
    if (s.ok && s.done_s >= 0 && static_cast<std::size_t>(s.done_s) < seconds)
      ++completed[static_cast<std::size_t>(s.done_s)];
    if (s.at_s < 0)
      continue;
    auto k = static_cast<std::size_t>(s.at_s);
    if (k >= seconds)
      continue;
    per_second[k].push_back(s.latency_ms);
    if (!s.ok)
      ++failed[k];
  }
  auto rows = json::array();
  for (std::size_t k = 0; k < seconds; ++k) {
    auto& values = per_second[k];
    std::sort(values.begin(), values.end());
    rows.push_back({{"second", k},
                    {"ok_completed", completed[k]},
                    {"scheduled_replied", values.size()},
                    {"non_2xx", failed[k]},
                    {"p50_ms", round3(quantile(values, 0.5))},
                    {"p99_ms", round3(quantile(values, 0.99))},
                    {"max_ms", round3(values.empty() ? 0.0 : values.back())}});
  }
  return rows;
}

/// Latency at quantiles 1 - 10^-k/2 and 1 - 10^-k, which spread evenly on
/// a log scale of 1 / (1 - q), as latency spectra are usually drawn.
json distribution(const std::vector<double>& sorted) {
  auto rows = json::array();
  if (sorted.empty())
    return rows;
  std::vector<double> qs = {0.0, 0.25, 0.5, 0.75};
  for (double tail = 0.1; tail > 0.5 / static_cast<double>(sorted.size()); tail /= 10) {
    qs.push_back(1 - tail);
    qs.push_back(1 - tail / 2);
    qs.push_back(1 - tail / 5);
  }
  for (double q : qs)
    rows.push_back({{"quantile", q}, {"latency_ms", round3(quantile(sorted, q))}});
  rows.push_back({{"quantile", 1.0}, {"latency_ms", round3(sorted.back())}});
  return rows;
}

} // namespace

json latency_summary(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values)
    sum += v;
  return {{"count", values.size()},
          {"mean", round3(values.empty() ? 0.0 : sum / static_cast<double>(values.size()))},
          {"p50", round3(quantile(values, 0.5))},
          {"p90", round3(quantile(values, 0.9))},
          {"p99", round3(quantile(values, 0.99))},
          {"p99_9", round3(quantile(values, 0.999))},
          {"max", round3(values.empty() ? 0.0 : values.back())}};
}

json load_figures(const load_result& result, const std::vector<std::string>& kind_names) {
  std::vector<double> all;
  std::vector<std::vector<double>> by_kind(kind_names.size());
  std::uint64_t ok = 0;
  std::uint64_t ok_in_window = 0;
  all.reserve(result.samples.size());
  for (const auto& s : result.samples) {
    all.push_back(s.latency_ms);
    if (s.kind < by_kind.size())
      by_kind[s.kind].push_back(s.latency_ms);
    ok += s.ok ? 1 : 0;
    // Throughput counts replies by their arrival time, so a backlog that
    // drains after the window does not inflate it.
    ok_in_window += s.ok && s.done_s < result.recorded_s ? 1 : 0;
  }

  json kinds = json::object();
  for (std::size_t k = 0; k < kind_names.size(); ++k)
    if (!by_kind[k].empty())
      kinds[kind_names[k]] = latency_summary(std::move(by_kind[k]));

  std::uint64_t errors = 0;
  for (const auto& [kind, count] : result.errors)
    errors += count;
  double seconds = result.recorded_s > 0 ? result.recorded_s : 1;
  std::sort(all.begin(), all.end());
  return {{"recorded_s", round3(result.recorded_s)},
          {"requests_sent", result.sent},
          {"replies_recorded", result.samples.size()},
          {"ok_recorded", ok},
          {"throughput_per_s", std::round(static_cast<double>(ok_in_window) / seconds)},
          {"latency_ms", latency_summary(all)},
          {"latency_ms_by_kind", kinds},
          {"errors", result.errors},
          {"error_total", errors},
          {"client_cpu_s", round3(result.client_cpu_s)},
          {"timeline", timeline(result)},
          {"distribution", distribution(all)}};
}

namespace {

void print_load(const char* title, const json& load) {
  const auto& l = load["latency_ms"];
  std::printf("%-22s %10.0f/s  p50 %7.3f  p90 %7.3f  p99 %7.3f  p99.9 %7.3f  max %8.3f ms"
              "  errors %llu\n",
              title, load["throughput_per_s"].get<double>(), l["p50"].get<double>(),
              l["p90"].get<double>(), l["p99"].get<double>(), l["p99_9"].get<double>(),
              l["max"].get<double>(),
              static_cast<unsigned long long>(load["error_total"].get<std::uint64_t>()));
  for (const auto& [kind, summary] : load["latency_ms_by_kind"].items())
    std::printf("  %-20s %10llu replies  p50 %7.3f  p99 %7.3f  max %8.3f ms\n", kind.c_str(),
                static_cast<unsigned long long>(summary["count"].get<std::uint64_t>()),
                summary["p50"].get<double>(), summary["p99"].get<double>(),
                summary["max"].get<double>());
  for (const auto& [kind, count] : load["errors"].items())
    std::printf("  error %-14s %llu\n", kind.c_str(),
                static_cast<unsigned long long>(count.get<std::uint64_t>()));
}

void print_figures(const std::string& prefix, const json& figures) {
  for (const auto& [key, value] : figures.items()) {
    if (value.is_object()) {
      print_figures(prefix + key + ".", value);
      continue;
    }
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      for (std::size_t k = 0; k < value.size(); ++k)
        print_figures(prefix + key + "[" + std::to_string(k) + "].", value[k]);
      continue;
    }
    auto text = value.dump();
    if (text.size() > 100)
      text = text.substr(0, 97) + "...";
    std::printf("  %-44s %s\n", (prefix + key).c_str(), text.c_str());
  }
}

} // namespace

void print_table(const json& report) {
  std::printf("\n%s on %s (%u hardware threads), %s\n",
              report["scenario"].get<std::string>().c_str(),
              report["machine"]["cpu"].get<std::string>().c_str(),
              report["machine"]["hardware_threads"].get<unsigned>(),
              report["date"].get<std::string>().c_str());
  if (report.contains("load"))
    print_load("orchestrator", report["load"]);
  if (report.contains("ceiling") && report["ceiling"].contains("load")) {
    print_load("nginx ceiling", report["ceiling"]["load"]);
    if (report["ceiling"].contains("ratio"))
      std::printf("  orchestrator / nginx throughput: %.3f\n",
                  report["ceiling"]["ratio"].get<double>());
  }
  if (report.contains("figures") && !report["figures"].empty()) {
    std::printf("figures:\n");
    print_figures("", report["figures"]);
  }
}

} // namespace orchestrator::bench
