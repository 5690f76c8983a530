#include "bench/load/setup.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
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
  if (run_batch(t.host, t.port, std::move(requests), {}, 2) != batches)
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
  auto ok = run_batch(t.host, t.port, std::move(requests),
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
  run_batch(t.host, t.port, {{method, path, std::move(body), 0, 0}},
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

double server_cpu_s(const target& t) {
  return t.server ? process_cpu_seconds_of(t.server->pid()) : -1;
}

json common_settings(const bench_options& options, const target& t) {
  return {{"server", options.server_url.empty() ? "started by the bench" : options.server_url},
          {"server_args", t.args},
          {"duration_s", options.duration_s},
          {"warmup_s", options.warmup_s},
          {"connections", options.connections},
          {"client_threads", options.client_threads}};
}

} // namespace orchestrator::bench
