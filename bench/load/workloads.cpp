#include "bench/load/workloads.hpp"

#include <nlohmann/json.hpp>

#include <sstream>
#include <stdexcept>

namespace orchestrator::bench {

using json = nlohmann::json;
namespace http = boost::beast::http;

heartbeat_workload::shared_state::shared_state(std::vector<std::string> heartbeat_bodies)
  : bodies(std::move(heartbeat_bodies)),
    silenced(new std::atomic<bool>[bodies.size()]),
    last_ok_ns(new std::atomic<std::int64_t>[bodies.size()]) {
  for (std::size_t k = 0; k < bodies.size(); ++k) {
    silenced[k] = false;
    last_ok_ns[k] = 0;
  }
}

heartbeat_workload::heartbeat_workload(std::shared_ptr<shared_state> state,
                                       std::size_t index, std::size_t count)
  : state_(std::move(state)) {
  for (std::size_t k = index; k < state_->bodies.size(); k += count)
    mine_.push_back(k);
}

std::optional<request_spec> heartbeat_workload::next() {
  if (mine_.empty())
    return std::nullopt;
  auto worker = mine_[cursor_];
  cursor_ = (cursor_ + 1) % mine_.size();
  if (state_->silenced[worker].load(std::memory_order_relaxed))
    return std::nullopt;
  return request_spec{http::verb::post, "/heartbeat", state_->bodies[worker], 0, worker};
}

void heartbeat_workload::on_reply(const request_spec& spec, unsigned status,
                                  const std::string&, clock_type::time_point sent) {
  if (status == 200)
    state_->last_ok_ns[spec.tag].store(sent.time_since_epoch().count(),
                                       std::memory_order_relaxed);
}

std::string heartbeat_body(const std::string& name, std::size_t streams) {
  return json{{"server_id", name}, {"current_streams", streams}}.dump();
}

const std::vector<std::string> churn_workload::kind_names = {"register", "assign", "release",
                                                             "deregister"};

std::vector<double> parse_mix(const std::string& mix) {
  std::vector<double> weights(churn_workload::kind_names.size(), 0.0);
  std::istringstream entries{mix};
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    auto eq = entry.find('=');
    std::size_t k = 0;
    while (k < weights.size() && churn_workload::kind_names[k] != entry.substr(0, eq))
      ++k;
    if (eq == std::string::npos || k == weights.size())
      throw std::invalid_argument("invalid --mix entry '" + entry
                                  + "'; write KIND=WEIGHT with KIND one of register, "
                                    "assign, release, deregister");
    weights[k] = std::stod(entry.substr(eq + 1));
    if (weights[k] < 0)
      throw std::invalid_argument("--mix weight for " + entry + " is negative");
  }
  double total = 0;
  for (double w : weights)
    total += w;
  if (total <= 0)
    throw std::invalid_argument("--mix '" + mix + "' has no positive weight");
  return weights;
}

churn_workload::churn_workload(const std::map<std::string, owned_set>& initial,
                               std::vector<double> weights, std::size_t batch,
                               std::size_t capacity, std::size_t min_live)
  : choose_(weights.begin(), weights.end()),
    batch_(batch),
    capacity_(capacity),
    min_live_(min_live) {
  for (const auto& [id, owned] : initial) {
    live_.push_back(workers_.size());
    workers_.push_back({id, owned, true, false, false});
  }
}

std::optional<std::size_t> churn_workload::pick_free(bool needs_streams) {
  if (live_.empty())
    return std::nullopt;
  // A few random tries keep the choice uniform without scanning the pool.
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto index = live_[random_() % live_.size()];
    const auto& w = workers_[index];
    if (!w.busy && (!needs_streams || !w.owned.empty()))
      return index;
  }
  return std::nullopt;
}

void churn_workload::drop_live(std::size_t index) {
  for (auto& slot : live_)
    if (slot == index) {
      slot = live_.back();
      live_.pop_back();
      return;
    }
}

std::optional<request_spec> churn_workload::next() {
  auto kind = static_cast<std::uint8_t>(choose_(random_));
  if (kind == deregister_kind && live_.size() <= min_live_)
    kind = register_kind;

  if (kind == register_kind) {
    auto index = workers_.size();
    workers_.push_back({worker_name("churn-", index), {}, false, true, false});
    json body = {{"server_id", workers_.back().id}, {"ip", "127.0.0.1"}, {"port", 9000},
                 {"max_streams", capacity_}};
    return request_spec{http::verb::post, "/register", body.dump(), kind, index};
  }

  auto picked = pick_free(kind == release_kind);
  if (!picked) {
    ++skipped_;
    return std::nullopt;
  }
  auto& w = workers_[*picked];
  w.busy = true;

  if (kind == assign_kind) {
    json body = {{"server_id", w.id}, {"requested_count", batch_}};
    return request_spec{http::verb::post, "/streams/assign", body.dump(), kind, *picked};
  }
  if (kind == release_kind) {
    auto ids = json::array();
    for (auto it = w.owned.begin(); it != w.owned.end() && ids.size() < batch_; ++it)
      ids.push_back(it->first);
    json body = {{"server_id", w.id}, {"stream_ids", ids}};
    return request_spec{http::verb::post, "/streams/release", body.dump(), kind, *picked};
  }
  // Leaves the pool at once, so no other request picks it.
  drop_live(*picked);
  w.live = false;
  // Deregistering is an operator action, so it needs the admin token.
  return request_spec{http::verb::delete_, "/instances/" + w.id, "", kind, *picked, true};
}

void churn_workload::on_reply(const request_spec& spec, unsigned status,
                              const std::string& body, clock_type::time_point) {
  auto& w = workers_[spec.tag];
  w.busy = false;
  if (status != 200) {
    w.uncertain = w.uncertain || status >= 500;
    return;
  }
  if (spec.kind == deregister_kind) {
    w.owned.clear();
    return;
  }
  w.owned = owned_streams(body);
  if (spec.kind == register_kind && !w.live) {
    w.live = true;
    live_.push_back(spec.tag);
  }
}

void churn_workload::on_failure(const request_spec& spec) {
  auto& w = workers_[spec.tag];
  w.busy = false;
  w.uncertain = true;
}

} // namespace orchestrator::bench
