#include "bench/load/setup.hpp"

#include <csignal>
#include <cstdio>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace orchestrator::bench {

using json = nlohmann::json;
namespace http = boost::beast::http;

owned_set owned_streams(const std::string& body) {
  owned_set owned;
  auto reply = json::parse(body, nullptr, false);
  if (reply.is_discarded() || !reply.contains("owned_streams"))
    return owned;
  for (const auto& lease : reply["owned_streams"])
    owned[lease["stream_id"].get<std::int64_t>()] = lease["epoch"].get<std::uint64_t>();
  return owned;
}

namespace {

/// Splits --server into host and port, accepting only loopback hosts:
/// every request of the bench must stay on this machine.
std::pair<std::string, std::uint16_t> parse_server_url(std::string url) {
  for (const char* scheme : {"http://"})
    if (url.rfind(scheme, 0) == 0)
      url = url.substr(std::string{scheme}.size());
  if (!url.empty() && url.back() == '/')
    url.pop_back();
  auto colon = url.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("--server " + url + " has no port; write http://127.0.0.1:PORT");
  auto host = url.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost")
    host = "127.0.0.1";
  if (host != "127.0.0.1" && host != "::1")
    throw std::invalid_argument("--server host " + host
                                + " is not loopback; the bench only sends to 127.0.0.1 or ::1");
  auto port = std::stoi(url.substr(colon + 1));
  if (port <= 0 || port > 65535)
    throw std::invalid_argument("--server port " + url.substr(colon + 1) + " is invalid");
  return {host, static_cast<std::uint16_t>(port)};
}

} // namespace

void target::start(const bench_options& options) {
  ++starts;
  server = std::make_unique<orchestrator_server>(
    options.orchestrator_binary, args,
    dir.file("server-" + std::to_string(starts) + ".log"), 600);
  port = server->port();
}

std::unique_ptr<target> open_target(const bench_options& options,
                                    std::vector<std::string> scenario_args) {
  auto t = std::make_unique<target>();
  auto bearer = [](const std::string& token) {
    return token.empty() ? std::string{} : "Bearer " + token;
  };
  t->load_authorization = bearer(options.api_key.empty() ? options.admin_key
                                                         : options.api_key);
  t->setup_authorization = bearer(options.admin_key.empty() ? options.api_key
                                                            : options.admin_key);
  if (!options.server_url.empty()) {
    auto [host, port] = parse_server_url(options.server_url);
    t->host = host;
    t->port = port;
    return t;
  }
  t->args = {"--data-dir", t->dir.file("data")};
  t->args.insert(t->args.end(), scenario_args.begin(), scenario_args.end());
  t->args.insert(t->args.end(), options.server_args.begin(), options.server_args.end());
  t->start(options);
  return t;
}

load_options base_load_options(const bench_options& options, const target& t) {
  load_options lo;
  lo.host = t.host;
  lo.port = t.port;
  lo.authorization = t.load_authorization;
  lo.admin_authorization = t.setup_authorization;
  lo.connections = options.connections;
  lo.threads = options.client_threads;
  lo.warmup_s = options.warmup_s;
  lo.duration_s = options.duration_s;
  return lo;
}

std::string worker_name(const char* prefix, std::size_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%s%06zu", prefix, index);
  return name;
}

void add_streams(const target& t, std::int64_t first, std::size_t count) {
  constexpr std::size_t chunk = 5000;
  std::vector<request_spec> requests;
  for (std::size_t done = 0; done < count; done += chunk) {
    auto rows = json::array();
    for (std::size_t k = done; k < std::min(count, done + chunk); ++k) {
      auto id = first + static_cast<std::int64_t>(k);
      rows.push_back({{"id", id}, {"url", "http://radio.example/" + std::to_string(id)}});
    }
    requests.push_back({http::verb::post, "/streams", rows.dump(), 0, 0});
  }
  auto batches = requests.size();
  if (run_batch(t.host, t.port, t.setup_authorization, std::move(requests), {}, 2) != batches)
    throw std::runtime_error("adding streams with POST /streams failed");
}

void write_catalog(const std::string& path, std::size_t count) {
  std::ofstream out{path};
  out << "id,url,name\n";
  for (std::size_t id = 1; id <= count; ++id)
    out << id << ",http://radio.example/" << id << ",stream " << id << "\n";
  if (!out)
    throw std::runtime_error("cannot write the catalogue " + path);
}

namespace {

std::map<std::string, owned_set> send_per_worker(const target& t,
                                                 const std::vector<std::string>& names,
                                                 const char* path,
                                                 const std::function<json(const std::string&)>& body) {
  std::vector<request_spec> requests;
  for (std::size_t k = 0; k < names.size(); ++k)
    requests.push_back({http::verb::post, path, body(names[k]).dump(), 0, k});
  std::map<std::string, owned_set> owned;
  std::size_t failed = 0;
  auto ok = run_batch(t.host, t.port, t.setup_authorization, std::move(requests),
                      [&](const request_spec& spec, unsigned status, const std::string& reply) {
                        if (status == 200)
                          owned[names[spec.tag]] = owned_streams(reply);
                        else
                          ++failed;
                      });
  if (ok != names.size())
    throw std::runtime_error(std::string{"POST "} + path + " failed for "
                             + std::to_string(names.size() - ok) + " of "
                             + std::to_string(names.size()) + " workers");
  return owned;
}

} // namespace

std::map<std::string, owned_set> register_workers(const target& t,
                                                  const std::vector<std::string>& names,
                                                  std::size_t capacity) {
  return send_per_worker(t, names, "/register", [&](const std::string& name) {
    return json{{"server_id", name}, {"ip", "127.0.0.1"}, {"port", 9000},
                {"max_streams", capacity}};
  });
}

std::map<std::string, owned_set> assign_streams(const target& t,
                                                const std::vector<std::string>& names,
                                                std::size_t per_worker) {
  return send_per_worker(t, names, "/streams/assign", [&](const std::string& name) {
    return json{{"server_id", name}, {"requested_count", per_worker}};
  });
}

namespace {

json request_json(const target& t, http::verb method, const std::string& path,
                  std::string body) {
  unsigned status = 0;
  std::string reply;
  run_batch(t.host, t.port, t.setup_authorization, {{method, path, std::move(body), 0, 0}},
            [&](const request_spec&, unsigned s, const std::string& b) {
              status = s;
              reply = b;
            });
  if (status < 200 || status >= 300)
    throw std::runtime_error(std::string{http::to_string(method)} + " " + path + " returned "
                             + (status == 0 ? "no reply" : std::to_string(status)) + ": "
                             + reply.substr(0, 300));
  return json::parse(reply);
}

} // namespace

json get_json(const target& t, const std::string& path) {
  return request_json(t, http::verb::get, path, "");
}

json post_json(const target& t, const std::string& path, const json& body) {
  return request_json(t, http::verb::post, path, body.is_null() ? "" : body.dump());
}

namespace {

/// Sums every sample of `name` in Prometheus text, grouped by its "le"
/// label (or "" for none), over all other labels.
std::map<std::string, double> prometheus_samples(const std::string& text,
                                                 const std::string& name) {
  std::map<std::string, double> sums;
  std::istringstream lines{text};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0)
      continue;
    auto rest = line.substr(name.size());
    if (!rest.empty() && rest[0] != '{' && rest[0] != ' ')
      continue;
    std::string le;
    auto le_at = rest.find("le=\"");
    if (le_at != std::string::npos)
      le = rest.substr(le_at + 4, rest.find('"', le_at + 4) - le_at - 4);
    sums[le] += std::stod(rest.substr(rest.rfind(' ') + 1));
  }
  return sums;
}

/// The difference of a histogram between two scrapes: count, mean and the
/// bucket bound under which 50 %, 90 % and 99 % of the observations fell.
json histogram_delta(const std::string& before, const std::string& after,
                     const std::string& name) {
  auto count = prometheus_samples(after, name + "_count")[""]
               - prometheus_samples(before, name + "_count")[""];
  auto sum = prometheus_samples(after, name + "_sum")[""]
             - prometheus_samples(before, name + "_sum")[""];
  auto buckets_after = prometheus_samples(after, name + "_bucket");
  auto buckets_before = prometheus_samples(before, name + "_bucket");
  std::vector<std::pair<double, double>> cumulative;
  for (const auto& [le, value] : buckets_after)
    cumulative.emplace_back(le == "+Inf" ? 1e300 : std::stod(le), value - buckets_before[le]);
  std::sort(cumulative.begin(), cumulative.end());
  json result = {{"count", count},
                 {"mean_ms", count > 0 ? std::round(1e6 * sum / count) / 1000 : 0.0}};
  for (auto [key, q] : {std::pair{"p50_at_most_ms", 0.5}, {"p90_at_most_ms", 0.9},
                        {"p99_at_most_ms", 0.99}})
    for (const auto& [bound, value] : cumulative)
      if (count > 0 && value >= q * count) {
        result[key] = bound > 1e200 ? json("above the largest bucket") : json(bound * 1000);
        break;
      }
  return result;
}

std::string get_text(const target& t, const std::string& path) {
  std::string body;
  run_batch(t.host, t.port, t.setup_authorization, {{http::verb::get, path, "", 0, 0}},
            [&](const request_spec&, unsigned, const std::string& b) { body = b; });
  return body;
}

} // namespace

server_metrics::server_metrics(const target& t) : t_(t), before_(get_text(t, "/metrics")) {}

json server_metrics::finish() {
  auto after = get_text(t_, "/metrics");
  auto commits = histogram_delta(before_, after, "orchestrator_store_commit_duration_seconds");
  auto changes = prometheus_samples(after, "orchestrator_store_changes_committed_total")[""]
                 - prometheus_samples(before_, "orchestrator_store_changes_committed_total")[""];
  if (commits["count"].get<double>() > 0)
    commits["changes_per_commit"] =
      std::round(100 * changes / commits["count"].get<double>()) / 100;
  return {{"store_commits", commits},
          {"requests_inside_server",
           histogram_delta(before_, after, "orchestrator_http_request_duration_seconds")}};
}

double server_cpu_s(const target& t) {
  return t.server ? process_cpu_seconds_of(t.server->pid()) : -1;
}

json common_settings(const bench_options& options, const target& t, const json& extra) {
  json settings = {{"server", options.server_url.empty() ? "started by the bench" : options.server_url},
          {"server_args", t.args},
          {"duration_s", options.duration_s},
          {"warmup_s", options.warmup_s},
          {"connections", options.connections},
          {"client_threads", options.client_threads}};
  settings.update(extra);
  return settings;
}

} // namespace orchestrator::bench
