#include "net/api.hpp"

#include "actors/balancer.hpp"
#include "actors/logging.hpp"
#include "actors/module_setup.hpp"
#include "actors/telemetry.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>

namespace orchestrator {

namespace {

http_response json_response(unsigned status, const json& body) {
  // Path and query text echoed in a reply may contain bytes that are not
  // UTF-8. They become U+FFFD instead of making dump() throw.
  return http_response::json(
    status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

http_response detail_response(unsigned status, const std::string& text) {
  return json_response(status, {{"detail", text}});
}

/// The reply to a legacy heartbeat, written without a JSON tree because it
/// is the most frequent request.
http_response heartbeat_response(const heartbeat& beat,
                                 const lease_snapshot& leases) {
  auto count = static_cast<std::int64_t>(leases.ids.size());
  // With stream_ids the sets are compared, else only the counts.
  bool in_sync = count == beat.reported_count;
  if (beat.lists_streams) {
    auto listed = beat.stream_ids;
    std::sort(listed.begin(), listed.end());
    listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
    in_sync = listed == leases.ids;
  }
  std::string body;
  body.reserve(96 + leases.json.size());
  body += "{\"in_sync\":";
  body += in_sync ? "true" : "false";
  body += ",\"owned_streams\":";
  body += leases.json;
  body += ",\"status\":\"heartbeat_updated\",\"stream_count\":";
  body += std::to_string(count);
  body += '}';
  return http_response::json(200, std::move(body));
}

http_response with_retry_after(http_response response, int seconds) {
  response.headers.emplace_back("Retry-After", std::to_string(seconds));
  return response;
}

/// Wraps a renderer into the callback that receives an actor's reply.
template <class Reply, class Render>
std::function<void(caf::expected<Reply>)> reply_with(responder respond,
                                                     Render render) {
  return [respond, render](caf::expected<Reply> reply) {
    if (!reply) {
      respond(error_response(reply.error()));
      return;
    }
    respond(render(*reply));
  };
}

/// Returns the response to a body that does not parse: 400 naming the key
/// for a key repeated in one object, else 422 with every error.
http_response unparsable_body(const std::vector<field_error>& errors) {
  for (const auto& e : errors)
    if (e.type == duplicate_key_error)
      return detail_response(400, e.msg);
  return json_response(422, validation_body(errors));
}

/// Parses the body as a JSON object and decodes it with `decode`; on failure
/// responds 400 or 422 and returns nothing.
template <class Decode>
auto decode_body(const routed_request& request, const responder& respond,
                 Decode decode) -> decltype(decode(json{}).value) {
  auto body = parse_object(request.raw.body);
  if (!body) {
    respond(unparsable_body(body.errors));
    return std::nullopt;
  }
  auto result = decode(*body.value);
  if (!result) {
    respond(json_response(422, validation_body(result.errors)));
    return std::nullopt;
  }
  return std::move(result.value);
}

json sorted_ids(const std::vector<stream_lease>& leases) {
  auto ids = json::array();
  for (const auto& lease : leases)
    ids.push_back(lease.stream_id);
  return ids;
}

std::string now_iso() {
  return iso_time(now_instant().wall_ms);
}

/// Parses a query parameter as a number within [min, max].
std::optional<double> query_number(const routed_request& request,
                                   const std::string& key, double fallback,
                                   double min, double max,
                                   const responder& respond) {
  auto text = request.query_value(key);
  if (!text)
    return fallback;
  // from_chars takes no spaces, sign '+' or hexadecimal, unlike stod.
  std::optional<double> value;
  double parsed = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(),
                                      parsed);
  if (error == std::errc{} && end == text->data() + text->size()
      && std::isfinite(parsed))
    value = parsed;
  if (!value) {
    respond(json_response(
      422, validation_body({field_error{{"query", key},
                                        "value is not a valid number",
                                        "type_error.float"}})));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    respond(json_response(
      422, validation_body({field_error{
             {"query", key},
             "ensure this value is between "
               + std::to_string(static_cast<long long>(min)) + " and "
               + std::to_string(static_cast<long long>(max)),
             "value_error.number.not_in_range"}})));
    return std::nullopt;
  }
  return value;
}

/// Reads an integer query parameter like query_number, rejecting values
/// with a fraction, such as limit=1.5.
std::optional<std::int64_t> query_integer(const routed_request& request,
                                          const std::string& key,
                                          std::int64_t fallback,
                                          std::int64_t min, std::int64_t max,
                                          const responder& respond) {
  auto text = request.query_value(key);
  if (text) {
    std::int64_t parsed = 0;
    auto [end, error] = std::from_chars(
      text->data(), text->data() + text->size(), parsed);
    bool integral = error == std::errc{} && end == text->data() + text->size();
    if (!integral) {
      respond(json_response(
        422, validation_body({field_error{{"query", key},
                                          "value is not a valid integer",
                                          "type_error.integer"}})));
      return std::nullopt;
    }
  }
  auto value = query_number(request, key, static_cast<double>(fallback),
                            static_cast<double>(min), static_cast<double>(max),
                            respond);
  if (!value)
    return std::nullopt;
  return static_cast<std::int64_t>(*value);
}

/// Validates a path parameter that names a worker.
bool check_server_id(const std::string& id, const responder& respond) {
  if (valid_server_id(id))
    return true;
  respond(json_response(
    422, validation_body({field_error{{"path", "server_id"},
                                      "must be 1 to 128 printable ASCII "
                                      "characters without spaces or '/'",
                                      "value_error.server_id"}})));
  return false;
}

/// Validates the free-text reason of an emergency: 1 to 128 characters,
/// which the router has already checked for UTF-8 and control characters.
bool check_reason(const std::string& reason, const responder& respond) {
  if (!reason.empty() && reason.size() <= 128)
    return true;
  respond(json_response(
    422, validation_body({field_error{{"query", "reason"},
                                      "must be 1 to 128 characters",
                                      "value_error.any_str.length"}})));
  return false;
}

const std::set<std::string>& rebalance_reasons() {
  static const std::set<std::string> reasons{
    "manual", "new_instance", "instance_failure", "load_imbalance",
    "performance_degradation"};
  return reasons;
}

json moves_json(const std::vector<stream_move>& moves) {
  auto list = json::array();
  for (const auto& move : moves)
    list.push_back({{"stream_id", move.stream_id},
                    {"from", move.from},
                    {"to", move.to},
                    {"epoch", move.epoch}});
  return list;
}

json rebalance_json(const rebalance_report& report) {
  return {{"status", report.status},
          {"id", report.id},
          {"method", report.method},
          {"reason", report.reason},
          {"streams_moved", report.moved},
          {"instances_affected", report.workers_affected.size()},
          {"affected_instances", report.workers_affected},
          {"execution_time_ms", report.duration_ms},
          {"migrations", moves_json(report.moves)},
          {"remaining_moves", report.remaining},
          {"started_at", iso_time(report.started_at_ms)},
          {"message", report.message},
          {"error", nullptr}};
}

json plan_json(const balance_plan& plan) {
  auto workers = json::array();
  for (const auto& t : plan.targets)
    workers.push_back({{"server_id", t.server_id},
                       {"current_streams", t.current},
                       {"fair_share", std::round(t.share * 1000) / 1000},
                       {"target_streams", t.target},
                       {"load_score", t.score < 0 ? json(nullptr)
                                                  : json(t.score)},
                       {"overloaded", t.overloaded}});
  return {{"needs_rebalancing", plan.needs_rebalancing},
          {"reason", plan.reason},
          {"deferred", plan.deferred.empty() ? json(nullptr)
                                             : json(plan.deferred)},
          {"minimum_moves", plan.minimum_moves},
          {"budget_per_round", plan.budget},
          {"stream_spread", plan.spread_streams},
          {"share_ratio_spread", plan.spread_ratio},
          {"moves", moves_json(plan.moves)},
          {"instances", workers}};
}

json resilience_json(const detector_status& status) {
  auto workers = json::array();
  for (const auto& w : status.workers)
    workers.push_back({{"server_id", w.server_id},
                       {"state", w.state},
                       {"phi", w.phi < 0 ? json(nullptr) : json(w.phi)},
                       {"silence_seconds", w.silence_ms / 1000.0},
                       {"heartbeat_interval_seconds",
                        w.intervals == 0 ? json(nullptr)
                                         : json(w.interval_mean_ms / 1000.0)},
                       {"intervals_seen", w.intervals},
                       {"recent_deaths", w.recent_deaths}});
  return {{"method", status.method},
          {"frozen", status.frozen},
          {"freeze_reason", status.freeze_reason.empty()
                              ? json(nullptr)
                              : json(status.freeze_reason)},
          {"frozen_since", status.frozen_since_ms == 0
                             ? json(nullptr)
                             : json(iso_time(status.frozen_since_ms))},
          {"freeze_lifted", status.freeze_lifted},
          {"checks", status.rounds},
          {"stalled_checks", status.stalled_rounds},
          {"deaths_declared", status.deaths},
          {"last_check", status.last_check_ms == 0
                           ? json(nullptr)
                           : json(iso_time(status.last_check_ms))},
          {"settings", status.settings},
          {"instances", workers}};
}

json module_json(const module_status& m) {
  const auto* known = find_known_module(m.name);
  return {{"name", m.name},
          {"python_name", known != nullptr ? known->legacy_name : ""},
          {"role", m.role},
          {"file", m.file},
          {"version", m.version.empty() ? json(nullptr) : json(m.version)},
          {"found", m.found},
          {"loaded", m.loaded},
          {"initialized", m.initialized},
          {"error", m.error.empty() ? json(nullptr) : json(m.error)},
          {"variant", m.variant},
          {"since", iso_time(m.since_ms)}};
}

http_response modules_status_error(const caf::error& err) {
  logger("net")->error("modules-status-failed error=\"{}\"", describe(err));
  return json_response(500, {{"detail",
                              {{"status", "error"},
                               {"timestamp", now_iso()},
                               {"error", describe(err)},
                               {"message", "could not read the module status"}}}});
}

/// Builds the /modules/status body: the Python server's keys, plus our
/// module names and every role's state.
json modules_status_body(const std::vector<module_status>& modules,
                         const std::vector<role_status>& roles) {
  std::map<std::string, const role_status*> by_role;
  for (const auto& r : roles)
    by_role[r.role] = &r;
  auto running = [&](const char* name) {
    auto i = by_role.find(name);
    return i != by_role.end() && i->second->state == "running";
  };

  json legacy = json::object();
  json ours = json::object();
  json functionality = {{"basic_orchestration", running("coordinator")}};
  int available = 0;
  int initialized = 0;
  for (const auto& known : known_modules) {
    module_status m;
    m.name = known.name;
    m.role = known.role;
    for (const auto& candidate : modules)
      if (candidate.name == known.name)
        m = candidate;
    bool active = m.initialized && running(known.role);
    available += m.loaded ? 1 : 0;
    initialized += active ? 1 : 0;
    legacy[known.legacy_name] = {{"available", m.loaded},
                                 {"initialized", active},
                                 {"error", m.error.empty() ? json(nullptr)
                                                           : json(m.error)},
                                 {"module", known.name}};
    ours[known.name] = module_json(m);
    functionality[known.functionality] = active;
  }
  bool degraded = false;
  for (const auto& [key, value] : functionality.items())
    degraded = degraded || !value.get<bool>();

  json role_list = json::object();
  for (const auto& r : roles)
    role_list[r.role] = {{"variant", r.variant},
                         {"state", r.state},
                         {"restarts", r.restarts},
                         {"error", r.error.empty() ? json(nullptr)
                                                   : json(r.error)}};
  return {{"status", "success"},
          {"timestamp", now_iso()},
          {"modules", legacy},
          {"functionality", functionality},
          {"summary", {{"total_modules", 3},
                       {"available_modules", available},
                       {"initialized_modules", initialized},
                       {"degraded_functionality", degraded}}},
          {"enhanced_modules", ours},
          {"roles", role_list}};
}

} // namespace

http_response error_response(const caf::error& err) {
  auto text = describe(err);
  // A worker declared dead is fenced: whatever it captures is no longer
  // its own, and the reply carries an empty owned set to say so.
  if (is(err, errc::worker_dead))
    return json_response(404, {{"detail", text},
                               {"fenced", true},
                               {"owned_streams", json::array()}});
  if (is(err, errc::unknown_worker) || is(err, errc::unknown_stream))
    return detail_response(404, text);
  if (is(err, errc::stale_epoch))
    return detail_response(409, text);
  if (is(err, errc::invalid_request))
    return detail_response(422, text);
  if (is(err, errc::store_unavailable) || is(err, errc::circuit_open)
      || is(err, errc::lock_held))
    return with_retry_after(detail_response(503, text),
                            static_cast<int>(retry_after_of(err, 5)));
  if (is(err, errc::limit_reached))
    return with_retry_after(detail_response(503, text), 30);
  if (is(err, errc::not_ready) || is(err, errc::unavailable))
    return with_retry_after(detail_response(503, text), 1);
  if (err == caf::sec::request_timeout
      || err == caf::sec::request_receiver_down) {
    logger("net")->warn("actor-request-failed error=\"{}\"", text);
    return with_retry_after(detail_response(503, text + "; retry later"), 1);
  }
  logger("net")->error("request-failed error=\"{}\"", text);
  return detail_response(500, "internal error: " + text);
}

api::api(actor_bridge bridge, api_settings config)
  : bridge_(std::move(bridge)),
    config_(std::move(config)),
    outcomes_(std::make_shared<stream_outcomes>()),
    pending_(std::make_shared<std::atomic<std::size_t>>(0)),
    started_ms_(now_instant().wall_ms) {
  add_worker_routes();
  add_listing_routes();
  add_health_routes();
  add_admin_routes();
  add_catalog_routes();
  add_metrics_routes();
  add_resilience_routes();
  add_generation_two_routes();
  protect_routes();
  router_.set_observer([](const std::string& method, const std::string& route,
                          unsigned status, double seconds) {
    telemetry::global().request_served(method, route, status, seconds);
  });
}

void api::handle(http_request request, responder respond) const {
  if (!admit(request, respond))
    return;
  router_.dispatch(std::move(request), std::move(respond));
}

bool api::admit(const http_request& request, responder& respond) const {
  auto path = std::string_view{request.target}.substr(0, request.target.find('?'));
  bool post = request.method == "POST";
  // Probes and scrapes are cheap and must work when the server is busy.
  if (path == "/health" || path == "/ready" || path == "/metrics")
    return true;

  std::size_t limit = config_.max_pending / 2;
  const char* priority_class = "listing and admin requests";
  if (post && (path == "/heartbeat" || path == "/api/heartbeat")) {
    limit = config_.max_pending;
    priority_class = "heartbeats";
  } else if ((post
              && (path == "/register" || path == "/streams/assign"
                  || path == "/streams/release" || path == "/diagnostic"
                  || path == "/api/workers/register"
                  || path == "/api/streams/update"))
             || path == "/api/streams/assign") {
    limit = config_.max_pending * 3 / 4;
    priority_class = "worker requests";
  }

  auto busy = pending_->load(std::memory_order_relaxed);
  if (busy >= limit) {
    telemetry::global().request_shed(priority_class);
    logger("net")->debug("request-shed class=\"{}\" waiting={} limit={} target={}",
                         priority_class, busy, limit, request.target);
    respond(with_retry_after(
      detail_response(503, std::string{"the orchestrator is overloaded ("}
                             + std::to_string(busy) + " requests waiting); "
                             + priority_class + " are rejected first; retry later"),
      1));
    return false;
  }

  // A heartbeat that the board replies to never waits, so the heartbeat
  // route counts only the ones that go to the coordinator.
  if (post && path == "/heartbeat" && config_.board)
    return true;
  hold(respond);
  return true;
}

void api::hold(responder& respond) const {
  pending_->fetch_add(1, std::memory_order_relaxed);
  // Counted until every copy of the responder is destroyed, after a reply
  // or when a handler drops it without one.
  auto ticket = std::shared_ptr<void>(nullptr, [pending = pending_](void*) {
    pending->fetch_sub(1, std::memory_order_relaxed);
  });
  respond = [inner = std::move(respond), ticket](http_response response) {
    inner(std::move(response));
  };
}

void api::protect_routes() {
  struct route_access {
    const char* method;
    const char* pattern;
    access_level level;
  };
  // Every other route needs the worker token.
  const route_access table[] = {
    {"GET", "/health", access_level::open},
    {"GET", "/ready", access_level::open},
    {"GET", "/metrics",
     config_.metrics_public ? access_level::open : access_level::worker},
    {"POST", "/rebalance/basic", access_level::admin},
    {"POST", "/rebalance/smart", access_level::admin},
    {"POST", "/instances/{}/drain", access_level::admin},
    {"DELETE", "/instances/{}/drain", access_level::admin},
    {"POST", "/instances/{}/failure", access_level::admin},
    {"DELETE", "/instances/{}", access_level::admin},
    {"POST", "/resilience/recovery/{}", access_level::admin},
    {"POST", "/resilience/emergency/{}", access_level::admin},
    {"DELETE", "/resilience/freeze", access_level::admin},
    {"POST", "/modules/{}/reload", access_level::admin},
    {"POST", "/modules/{}/disable", access_level::admin},
    {"POST", "/streams", access_level::admin},
    {"DELETE", "/streams/{}", access_level::admin},
  };
  for (const auto& entry : table)
    if (!router_.set_access(entry.method, entry.pattern, entry.level))
      throw std::logic_error(std::string{"no route "} + entry.method + " "
                             + entry.pattern + " to protect");
  // Authentication comes first, so that a standby gives the leader's
  // address only to clients with a token.
  router_.set_guard([this](const http_request& request, access_level needed,
                           const responder& respond) {
    if (auto refusal = check_access(config_.tokens, needed,
                                    request.authorization)) {
      respond(std::move(*refusal));
      return true;
    }
    return config_.node && !config_.node->leading()
           && answer_as_follower(request, respond);
  });
}

bool api::answer_as_follower(const http_request& request,
                             const responder& respond) const {
  auto path = request.target.substr(0, request.target.find('?'));
  // The process metrics describe this server whatever its role.
  if (path == "/metrics")
    return false;
  const auto& node = *config_.node;
  auto leader = node.leader_address();
  bool deposed = node.current() == node_state::role::deposed;
  auto store_error = node.store_error();
  std::string message
    = deposed ? "this server lost the leader lock and is stopping; send "
                "requests to the leader"
    : !store_error.empty()
      ? "this server cannot reach its store yet: " + store_error
      : "this server is a standby; send requests to the leader";
  json leader_json = leader.empty() ? json(nullptr) : json(leader);
  if (request.method == "GET" && path == "/health") {
    // A standby is healthy while it can reach the database, ready to take
    // over; one that cannot would never take over.
    auto healthy = store_error.empty();
    respond(json_response(healthy ? 200 : 503,
                          {{"status", healthy ? "healthy" : "unhealthy"},
                                {"role", node.role_name()},
                                {"leader", leader_json},
                                {"store", {{"backend", config_.store_backend},
                                           {"error", store_error.empty()
                                                       ? json(nullptr)
                                                       : json(store_error)}}},
                                {"timestamp", now_iso()}}));
    return true;
  }
  http_response response;
  if (request.method == "GET" && path == "/ready")
    response = json_response(503, {{"status", node.role_name()},
                                    {"role", node.role_name()},
                                    {"leader", leader_json},
                                    {"detail", message}});
  else
    response = json_response(503, {{"detail", {{"error", node.role_name()},
                                               {"message", message},
                                               {"leader", leader_json}}}});
  if (!leader.empty())
    response.headers.emplace_back("X-Orchestrator-Leader", leader);
  respond(with_retry_after(std::move(response), 1));
  return true;
}

// -- worker endpoints ---------------------------------------------------------

void api::add_worker_routes() {
  router_.add("POST", "/register", [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_registration(j, config_.limits);
    });
    if (!body)
      return;
    auto server_id = body->server_id;
    bridge_.ask<register_reply>(
      role::coordinator,
      reply_with<register_reply>(respond, [server_id](register_reply& reply) {
        return json_response(200, {{"status", "registered"},
                                   {"server_id", server_id},
                                   {"max_streams", reply.max_streams},
                                   {"reregistration", reply.reregistration},
                                   {"auto_rebalanced", false},
                                   {"freed_streams", reply.freed_streams},
                                   {"stream_count", reply.owned.size()},
                                   {"owned_streams", to_json(reply.owned)}});
      }),
      atoms::register_atom::value, *body);
  });

  router_.add("POST", "/heartbeat", [this](routed_request request, responder respond) {
    // Most heartbeats are read from the text; the rest go through the JSON
    // tree, which gives the same request or the errors to report.
    auto body = decode_heartbeat_text(request.raw.body, config_.limits);
    if (!body)
      body = decode_body(request, respond, [this](const json& j) {
        return decode_heartbeat(j, config_.limits);
      });
    if (!body)
      return;
    auto bridge = bridge_;
    auto beat = std::move(body->beat);
    auto metrics = std::move(body->metrics);
    // Samples of known, live workers enter the history.
    auto record_metrics = [bridge, id = beat.server_id,
                           metrics = std::move(metrics)]() mutable {
      if (!metrics)
        return;
      metrics->recorded_at_ms = now_instant().wall_ms;
      bridge.tell(role::metrics, atoms::record_atom::value, id, *metrics);
      bridge.tell(role::store, atoms::record_atom::value, id, *metrics);
    };
    if (config_.board) {
      auto now = now_instant();
      auto leases = config_.board->record(
        beat.server_id,
        fast_beat{now.steady_ms, now.wall_ms, beat.reported_count,
                  beat.reported_status});
      if (leases) {
        telemetry::global().heartbeat_received();
        record_metrics();
        respond(heartbeat_response(beat, *leases));
        return;
      }
      hold(respond);
    }
    bridge_.ask<heartbeat_reply>(
      role::coordinator,
      [respond, beat, record_metrics](caf::expected<heartbeat_reply> reply) mutable {
        if (!reply) {
          auto response = error_response(reply.error());
          if (is(reply.error(), errc::worker_dead)) {
            // Name every stream it still captures, so it drops them.
            auto body = json::parse(response.body);
            body["drop_streams"] = beat.stream_ids;
            response.body = body.dump();
          }
          respond(std::move(response));
          return;
        }
        record_metrics();
        respond(heartbeat_response(beat, make_lease_snapshot(reply->owned)));
      },
      atoms::heartbeat_atom::value, beat);
  });

  router_.add("POST", "/streams/assign", [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_assign(j, config_.limits);
    });
    if (!body)
      return;
    auto server_id = body->server_id;
    bridge_.ask<assign_reply>(
      role::coordinator,
      reply_with<assign_reply>(respond, [server_id](assign_reply& reply) {
        json result = {{"assigned_streams", reply.assigned},
                       {"count", reply.assigned.size()},
                       {"stream_count", reply.owned.size()},
                       {"owned_streams", to_json(reply.owned)}};
        switch (reply.outcome) {
          case assign_outcome::assigned:
            result["status"] = "assigned";
            break;
          case assign_outcome::no_capacity:
            result["status"] = "no_capacity";
            result["message"] = "Instance " + server_id
                                + " is at capacity with "
                                + std::to_string(reply.owned.size())
                                + " streams; release streams or register "
                                  "with a larger max_streams";
            break;
          case assign_outcome::no_streams:
            result["status"] = "no_streams";
            result["message"] = "No unassigned streams are available; retry "
                                "later or add streams with POST /streams";
            break;
          case assign_outcome::draining:
            // Old clients know only the contract's three statuses.
            result["status"] = "no_capacity";
            result["draining"] = true;
            result["message"] = "Instance " + server_id
                                + " is draining and receives no streams; an "
                                  "operator ends this with DELETE "
                                  "/instances/" + server_id + "/drain";
            break;
          case assign_outcome::quarantined:
            result["status"] = "no_capacity";
            result["quarantined"] = true;
            result["message"] = "Instance " + server_id
                                + " failed repeatedly and receives no streams "
                                  "for a while; an operator ends this with "
                                  "POST /resilience/recovery/" + server_id;
            break;
        }
        return json_response(200, result);
      }),
      atoms::assign_atom::value, *body);
  });

  router_.add("POST", "/streams/release", [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_release(j, config_.limits);
    });
    if (!body)
      return;
    bool nothing_requested = body->stream_ids.empty();
    bridge_.ask<release_reply>(
      role::coordinator,
      reply_with<release_reply>(respond, [nothing_requested](release_reply& reply) {
        json result = {{"stream_count", reply.owned.size()},
                       {"owned_streams", to_json(reply.owned)}};
        if (nothing_requested) {
          result["status"] = "no_streams_to_release";
        } else {
          result["status"] = "released";
          result["released_streams"] = reply.released;
          result["count"] = reply.released.size();
        }
        return json_response(200, result);
      }),
      atoms::release_atom::value, *body);
  });

  router_.add("POST", "/diagnostic", [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_diagnostic(j, config_.limits);
    });
    if (!body)
      return;
    auto local = *body;
    bridge_.ask<worker_view>(
      role::coordinator,
      reply_with<worker_view>(respond, [local](worker_view& view) {
        std::set<std::int64_t> mine(local.local_streams.begin(),
                                    local.local_streams.end());
        std::set<std::int64_t> theirs;
        for (const auto& lease : view.owned)
          theirs.insert(lease.stream_id);
        std::vector<std::int64_t> only_local;
        std::vector<std::int64_t> only_orchestrator;
        std::set_difference(mine.begin(), mine.end(), theirs.begin(),
                            theirs.end(), std::back_inserter(only_local));
        std::set_difference(theirs.begin(), theirs.end(), mine.begin(),
                            mine.end(), std::back_inserter(only_orchestrator));
        auto count_mismatch = local.local_stream_count
                              != static_cast<std::int64_t>(theirs.size());
        auto reported_mismatch = view.reported_count
                                 != static_cast<std::int64_t>(theirs.size());
        bool in_sync = only_local.empty() && only_orchestrator.empty();
        bool synchronized = in_sync && !count_mismatch;

        auto recommendations = json::array();
        if (!only_local.empty())
          recommendations.push_back(
            "Stop capturing " + std::to_string(only_local.size())
            + " stream(s) listed in streams_only_in_local: the orchestrator "
              "does not assign them to this instance");
        if (!only_orchestrator.empty())
          recommendations.push_back(
            "Start capturing " + std::to_string(only_orchestrator.size())
            + " stream(s) listed in streams_only_in_orchestrator: they are "
              "assigned to this instance");
        if (in_sync && count_mismatch)
          recommendations.push_back(
            "local_stream_count disagrees with local_streams; report the "
            "count of the streams actually captured");
        if (recommendations.empty())
          recommendations.push_back("No action needed: local state matches "
                                    "the orchestrator");

        return json_response(
          200,
          {{"server_id", local.server_id},
           {"timestamp", now_iso()},
           {"is_synchronized", synchronized},
           {"synchronization_status", synchronized ? "OK" : "INCONSISTENT"},
           {"local_state",
            {{"stream_count", local.local_stream_count},
             {"streams", std::vector<std::int64_t>(mine.begin(), mine.end())}}},
           {"orchestrator_state",
            {{"stream_count", theirs.size()},
             {"streams", std::vector<std::int64_t>(theirs.begin(), theirs.end())},
             {"instance_current_streams", view.stream_count}}},
           {"inconsistencies",
            {{"streams_only_in_local", only_local},
             {"streams_only_in_orchestrator", only_orchestrator},
             {"count_mismatch", count_mismatch},
             {"orchestrator_count_mismatch", reported_mismatch}}},
           {"streams_in_sync", in_sync},
           {"instance_info",
            {{"status", to_string(view.row.state)},
             {"max_streams", view.row.max_streams},
             {"last_heartbeat", iso_time(view.row.last_heartbeat_ms)},
             {"heartbeat_age_seconds", view.heartbeat_age_ms / 1000.0}}},
           {"recommendations", recommendations},
           {"owned_streams", to_json(view.owned)}});
      }),
      caf::get_atom::value, atoms::worker_atom::value, local.server_id);
  });
}

// -- listings -----------------------------------------------------------------

void api::add_listing_routes() {
  router_.add("GET", "/status", [this](routed_request, responder respond) {
    bridge_.ask<cluster_summary>(
      role::coordinator,
      reply_with<cluster_summary>(respond, [](cluster_summary& s) {
        double load = s.total_capacity == 0
                        ? 0.0
                        : std::round(10000.0 * s.current_load / s.total_capacity)
                            / 100.0;
        return json_response(
          200, {{"orchestrator_status", "active"},
                {"instances",
                 {{"total", s.workers_total},
                  {"active", s.workers_active},
                  {"total_capacity", s.total_capacity},
                  {"current_load", s.current_load}}},
                {"streams",
                 {{"assigned", s.streams_assigned},
                  {"available", s.streams_total - s.streams_assigned},
                  {"waiting", s.streams_waiting},
                  {"handoffs", s.handoffs},
                  {"total", s.streams_total}}},
                {"load_percentage", load},
                {"epoch", s.epoch}});
      }),
      caf::get_atom::value, atoms::summary_atom::value);
  });

  router_.add("GET", "/instances", [this](routed_request, responder respond) {
    bridge_.ask<std::vector<worker_view>>(
      role::coordinator,
      reply_with<std::vector<worker_view>>(respond, [](std::vector<worker_view>& views) {
        auto list = json::array();
        for (const auto& view : views)
          list.push_back(instance_json(view));
        return json_response(200, {{"instances", list}, {"total", views.size()}});
      }),
      caf::get_atom::value, atoms::workers_atom::value);
  });

  router_.add("GET", "/instances/{}", [this](routed_request request, responder respond) {
    const auto& id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    bridge_.ask<worker_view>(
      role::coordinator,
      reply_with<worker_view>(respond, [](worker_view& view) {
        auto data = instance_json(view);
        data["assigned_streams"] = sorted_ids(view.owned);
        data["owned_streams"] = to_json(view.owned);
        return json_response(200, {{"status", "success"}, {"data", data}});
      }),
      caf::get_atom::value, atoms::worker_atom::value, id);
  });

  router_.add("GET", "/instances/{}/metrics", [this](routed_request request, responder respond) {
    auto id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    auto hours = query_number(request, "hours", 24, 0, 24 * 365, respond);
    if (!hours)
      return;
    auto limit = query_integer(request, "limit", 1440, 1, 10'000, respond);
    if (!limit)
      return;
    auto since = now_instant().wall_ms
                 - static_cast<std::int64_t>(*hours * 3600.0 * 1000.0);
    auto bridge = bridge_;
    // The coordinator returns 404 for unknown workers, and the store keeps
    // the samples.
    bridge_.ask<worker_view>(
      role::coordinator,
      [bridge, respond, id, since, limit = static_cast<std::uint64_t>(*limit)](
        caf::expected<worker_view> view) {
        if (!view) {
          respond(error_response(view.error()));
          return;
        }
        bridge.ask<std::vector<metrics_sample>>(
          role::store,
          reply_with<std::vector<metrics_sample>>(
            respond,
            [id](std::vector<metrics_sample>& samples) {
              auto list = json::array();
              for (const auto& sample : samples)
                list.push_back(to_json(sample));
              return json_response(200, {{"server_id", id},
                                         {"metrics", list},
                                         {"count", samples.size()}});
            }),
          caf::get_atom::value, atoms::samples_atom::value, id, since, limit);
      },
      caf::get_atom::value, atoms::worker_atom::value, id);
  });

  router_.add("GET", "/streams/assignments", [this](routed_request, responder respond) {
    auto bridge = bridge_;
    bridge_.ask<std::vector<assignment_row>>(
      role::coordinator,
      [bridge, respond](caf::expected<std::vector<assignment_row>> rows) {
        if (!rows) {
          respond(error_response(rows.error()));
          return;
        }
        // A second request adds each owner's address; an owner removed in
        // between shows null.
        bridge.ask<std::vector<worker_view>>(
          role::coordinator,
          reply_with<std::vector<worker_view>>(
            respond,
            [rows = std::move(*rows)](std::vector<worker_view>& views) {
              std::map<std::string, const worker_view*> by_id;
              // A stream in handoff stays its owner's until the owner lets
              // go; the row names the worker it goes to.
              std::map<std::int64_t, std::string> handoff_to;
              for (const auto& view : views) {
                by_id[view.row.server_id] = &view;
                for (auto stream_id : view.incoming)
                  handoff_to[stream_id] = view.row.server_id;
              }
              auto list = json::array();
              for (const auto& row : rows) {
                auto owner = by_id.find(row.server_id);
                bool known = owner != by_id.end();
                auto receiver = handoff_to.find(row.stream_id);
                bool moving = receiver != handoff_to.end();
                list.push_back(
                  {{"stream_id", row.stream_id},
                   {"server_id", row.server_id},
                   {"assigned_at", iso_time(row.assigned_at_ms)},
                   {"status", moving ? "revoking" : "active"},
                   {"handoff_to", moving ? json(receiver->second) : json(nullptr)},
                   {"epoch", row.epoch},
                   {"ip", known ? json(owner->second->row.ip) : json(nullptr)},
                   {"port", known ? json(owner->second->row.port) : json(nullptr)}});
              }
              return json_response(200, {{"assignments", list},
                                         {"total", rows.size()}});
            }),
          caf::get_atom::value, atoms::workers_atom::value);
      },
      caf::get_atom::value, atoms::assignments_atom::value);
  });
}

// -- health -------------------------------------------------------------------

void api::add_health_routes() {
  router_.add("GET", "/health", [this](routed_request, responder respond) {
    auto bridge = bridge_;
    auto backend = config_.store_backend;
    auto node = config_.node;
    bridge_.ask<std::vector<role_status>>(
      role::status,
      [bridge, respond, backend, node](caf::expected<std::vector<role_status>> roles) {
        auto role_list = json::object();
        bool roles_ok = true;
        if (roles) {
          for (const auto& r : *roles) {
            role_list[r.role] = {{"variant", r.variant},
                                 {"state", r.state},
                                 {"restarts", r.restarts},
                                 {"error", r.error.empty() ? json(nullptr)
                                                           : json(r.error)}};
            roles_ok = roles_ok && r.state == "running";
          }
        }
        bridge.ask<cluster_summary>(
          role::coordinator,
          [bridge, respond, role_list, roles_ok, backend,
           node](caf::expected<cluster_summary> s) {
            json body = {{"timestamp", now_iso()},
                         {"role", node ? node->role_name() : "leader"},
                         {"roles", role_list}};
            if (!s) {
              body["status"] = "unhealthy";
              body["store"] = {{"backend", backend}, {"status", "unknown"}};
              body["detail"] = describe(s.error());
              respond(with_retry_after(json_response(503, body), 1));
              return;
            }
            auto unreachable = node ? node->store_error() : std::string{};
            auto store_error = unreachable.empty() ? s->store_error : unreachable;
            body["store"] = {{"backend", backend},
                             {"status", s->store_available && unreachable.empty()
                                          ? "ok"
                                          : "failing"},
                             {"error", store_error.empty() ? json(nullptr)
                                                           : json(store_error)}};
            body["instances"] = {{"total", s->workers_total},
                                 {"active", s->workers_active}};
            body["streams"] = {{"total", s->streams_total},
                               {"assigned", s->streams_assigned},
                               {"waiting", s->streams_waiting}};
            if (!s->store_available || !unreachable.empty()) {
              body["status"] = "unhealthy";
              body["detail"] = "the store is failing: "
                               + (unreachable.empty() ? s->store_error
                                                      : unreachable);
              respond(with_retry_after(json_response(503, body), 5));
              return;
            }
            body["status"] = roles_ok ? "healthy" : "degraded";
            body["store"]["circuit_breaker"] = s->store_breaker;
            auto with_host = [bridge, respond](json body) {
              bridge.ask<metrics_sample>(
                role::metrics,
                [respond, body](caf::expected<metrics_sample> host) mutable {
                  body["system_metrics"] = host ? to_json(*host) : json(nullptr);
                  respond(json_response(200, body));
                },
                caf::get_atom::value, atoms::host_atom::value);
            };
            // A freeze of reassignment makes the server degraded: it runs,
            // but dead workers keep their streams until it ends.
            bridge.ask<detector_status>(
              role::failure_handler,
              [with_host, body](caf::expected<detector_status> status) mutable {
                if (status) {
                  body["resilience"] = {
                    {"method", status->method},
                    {"frozen", status->frozen && !status->freeze_lifted},
                    {"freeze_reason", status->freeze_reason.empty()
                                        ? json(nullptr)
                                        : json(status->freeze_reason)}};
                  if (status->frozen && !status->freeze_lifted)
                    body["status"] = "degraded";
                }
                with_host(std::move(body));
              },
              caf::get_atom::value, atoms::resilience_atom::value);
          },
          caf::get_atom::value, atoms::summary_atom::value);
      },
      caf::get_atom::value, atoms::roles_atom::value);
  });

  router_.add("GET", "/ready", [this](routed_request, responder respond) {
    // The store's own check notices a lost database before a write fails.
    if (config_.node && !config_.node->store_error().empty()) {
      respond(with_retry_after(
        json_response(503, {{"status", "not_ready"},
                            {"detail", "the store is unreachable: "
                                         + config_.node->store_error()}}),
        5));
      return;
    }
    bridge_.ask<cluster_summary>(
      role::coordinator,
      [respond](caf::expected<cluster_summary> s) {
        if (!s) {
          respond(with_retry_after(
            json_response(503, {{"status", "not_ready"},
                                {"detail", describe(s.error())}}),
            1));
          return;
        }
        if (!s->store_available) {
          respond(with_retry_after(
            json_response(503, {{"status", "not_ready"},
                                {"detail", "the store is failing: "
                                             + s->store_error}}),
            5));
          return;
        }
        respond(json_response(200, {{"status", "ready"},
                                    {"timestamp", now_iso()}}));
      },
      caf::get_atom::value, atoms::summary_atom::value);
  });

  router_.add("GET", "/modules/status", [this](routed_request, responder respond) {
    auto bridge = bridge_;
    bridge_.ask<std::vector<module_status>>(
      role::status,
      [bridge, respond](caf::expected<std::vector<module_status>> modules) {
        if (!modules) {
          respond(modules_status_error(modules.error()));
          return;
        }
        bridge.ask<std::vector<role_status>>(
          role::status,
          [respond, modules = std::move(*modules)](
            caf::expected<std::vector<role_status>> roles) {
            if (!roles) {
              respond(modules_status_error(roles.error()));
              return;
            }
            respond(json_response(200, modules_status_body(modules, *roles)));
          },
          caf::get_atom::value, atoms::roles_atom::value);
      },
      caf::get_atom::value, atoms::modules_atom::value);
  });

  for (const char* action : {"reload", "disable"}) {
    auto path = std::string{"/modules/{}/"} + action;
    bool reload = std::string{action} == "reload";
    router_.add("POST", path, [this, reload](routed_request request, responder respond) {
      const auto* known = find_known_module(request.params[0]);
      if (known == nullptr) {
        respond(detail_response(404, "unknown module '" + request.params[0]
                                       + "'; the modules are system_metrics "
                                         "(psutil), smart_balancer "
                                         "(enhanced_orchestrator) and "
                                         "resilient_failure_handler "
                                         "(resilient_orchestrator)"));
        return;
      }
      auto render = [reload](module_status& status) {
        return json_response(200, {{"status", reload ? "reloaded" : "disabled"},
                                   {"module", module_json(status)}});
      };
      if (reload)
        bridge_.ask<module_status>(role::supervisor,
                                   reply_with<module_status>(respond, render),
                                   atoms::reload_atom::value,
                                   std::string{known->name});
      else
        bridge_.ask<module_status>(role::supervisor,
                                   reply_with<module_status>(respond, render),
                                   atoms::disable_atom::value,
                                   std::string{known->name});
    });
  }
}

// -- resilience ---------------------------------------------------------------

void api::add_resilience_routes() {
  router_.add("GET", "/resilience/status", [this](routed_request, responder respond) {
    auto bridge = bridge_;
    bridge_.ask<detector_status>(
      role::failure_handler,
      [bridge, respond](caf::expected<detector_status> status) {
        if (!status) {
          respond(error_response(status.error()));
          return;
        }
        if (status->method == "basic") {
          respond(with_retry_after(
            detail_response(503, "the resilient_failure_handler module is not "
                                 "running, so only the fixed heartbeat "
                                 "timeout applies; install or reload it with "
                                 "POST /modules/resilient_failure_handler/reload"),
            60));
          return;
        }
        bridge.ask<cluster_summary>(
          role::coordinator,
          [respond, status = std::move(*status)](caf::expected<cluster_summary> s) {
            auto body = resilience_json(status);
            body["status"] = "success";
            if (s)
              body["circuit_breakers"] = {
                {"store",
                 {{"state", s->store_breaker},
                  {"consecutive_failures", s->store_failures},
                  {"error", s->store_error.empty() ? json(nullptr)
                                                   : json(s->store_error)}}}};
            respond(json_response(200, body));
          },
          caf::get_atom::value, atoms::summary_atom::value);
      },
      caf::get_atom::value, atoms::resilience_atom::value);
  });

  router_.add("GET", "/resilience/health", [this](routed_request, responder respond) {
    bridge_.ask<detector_status>(
      role::failure_handler,
      reply_with<detector_status>(respond, [](detector_status& status) {
        if (status.method == "basic")
          return json_response(200, {{"status", "basic"},
                                     {"message", "the resilient_failure_handler "
                                                 "module is not running; workers "
                                                 "are declared dead after the "
                                                 "fixed heartbeat timeout"}});
        std::size_t suspect = 0;
        for (const auto& w : status.workers)
          suspect += w.state == "suspect" ? 1 : 0;
        bool frozen = status.frozen && !status.freeze_lifted;
        std::string health = frozen        ? "critical"
                             : suspect > 0 ? "degraded"
                                           : "healthy";
        return json_response(
          200, {{"system_health", health},
                {"last_health_check", status.last_check_ms == 0
                                        ? json(nullptr)
                                        : json(iso_time(status.last_check_ms))},
                {"active_instances", status.workers.size() - suspect},
                {"suspect_instances", suspect},
                {"failed_instances", status.deaths},
                {"critical_failures", frozen ? 1 : 0},
                {"frozen", frozen},
                {"freeze_lifted", status.freeze_lifted},
                {"freeze_reason", status.freeze_reason.empty()
                                    ? json(nullptr)
                                    : json(status.freeze_reason)}});
      }),
      caf::get_atom::value, atoms::resilience_atom::value);
  });

  router_.add("POST", "/resilience/recovery/{}", [this](routed_request request, responder respond) {
    auto id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    auto bridge = bridge_;
    bridge_.ask<worker_view>(
      role::coordinator,
      [bridge, respond, id](caf::expected<worker_view> view) {
        if (!view) {
          bool unknown = is(view.error(), errc::unknown_worker);
          respond(json_response(unknown ? 404 : 503,
                                {{"status", unknown ? "not_found" : "failed"},
                                 {"message", describe(view.error())},
                                 {"detail", describe(view.error())}}));
          return;
        }
        bridge.tell(role::failure_handler, atoms::recover_atom::value, id);
        if (view->row.state == worker_state::dead) {
          auto text = "Instance " + id
                      + " was declared dead; its failure history and "
                        "quarantine are cleared, and it must register again "
                        "with POST /register";
          // "message" is the Python server's key; "detail" is every other
          // error's.
          respond(json_response(
            409, {{"status", "failed"}, {"message", text}, {"detail", text}}));
          return;
        }
        respond(json_response(
          200, {{"status", "success"},
                {"message", "Instance " + id
                              + " is out of quarantine, its failure history "
                                "is cleared, and it receives streams again"}}));
      },
      atoms::quarantine_atom::value, id, std::int64_t{0});
  });

  router_.add("POST", "/resilience/emergency/{}", [this](routed_request request, responder respond) {
    auto id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    auto reason = request.query_value("reason").value_or("operator");
    if (!check_reason(reason, respond))
      return;
    bridge_.ask<failure_report>(
      role::coordinator,
      [respond, id, reason](caf::expected<failure_report> report) {
        if (!report) {
          auto response = error_response(report.error());
          auto body = json::parse(response.body);
          body["status"] = "error";
          body["message"] = describe(report.error());
          response.body = body.dump();
          respond(std::move(response));
          return;
        }
        auto waiting = report->streams_freed - report->streams_reassigned;
        respond(json_response(
          200, {{"status", "success"},
                {"reason", reason},
                {"streams_freed", report->streams_freed},
                {"streams_reassigned", report->streams_reassigned},
                {"streams_waiting", waiting},
                {"instances_affected", report->receivers.size()},
                {"message", "Took " + std::to_string(report->streams_freed)
                              + " streams from " + id
                              + ", which is now draining; "
                              + std::to_string(report->streams_reassigned)
                              + " went to other workers within their capacity "
                                "and "
                              + std::to_string(waiting)
                              + " wait for room"}}));
      },
      atoms::evacuate_atom::value, id);
  });

  router_.add("DELETE", "/resilience/freeze", [this](routed_request, responder respond) {
    bridge_.ask<bool>(
      role::failure_handler,
      reply_with<bool>(respond, [](bool lifted) {
        if (!lifted)
          return detail_response(409, "reassignment is not frozen; nothing to "
                                      "lift");
        return json_response(200, {{"status", "lifted"},
                                   {"message", "workers are declared dead again "
                                               "until the next freeze"}});
      }),
      atoms::unfreeze_atom::value);
  });
}

// -- Prometheus metrics -------------------------------------------------------

void api::add_metrics_routes() {
  // Each part is read in turn; a part that fails is left out, so a scrape
  // still shows the counters while a role is down.
  router_.add("GET", "/metrics", [this](routed_request, responder respond) {
    auto bridge = bridge_;
    auto state = std::make_shared<scrape_state>();
    if (config_.node)
      state->role = config_.node->role_name();
    auto finish = [respond, state] {
      http_response response;
      response.body = telemetry::global().render(*state);
      response.content_type = "text/plain; version=0.0.4; charset=utf-8";
      respond(std::move(response));
    };
    auto read_host = [bridge, state, finish] {
      bridge.ask<metrics_sample>(
        role::metrics,
        [state, finish](caf::expected<metrics_sample> host) {
          if (host)
            state->host = std::move(*host);
          finish();
        },
        caf::get_atom::value, atoms::host_atom::value);
    };
    auto read_summary = [bridge, state, read_host] {
      bridge.ask<cluster_summary>(
        role::coordinator,
        [state, read_host](caf::expected<cluster_summary> summary) {
          if (summary) {
            state->summary = std::move(*summary);
            state->has_summary = true;
          }
          read_host();
        },
        caf::get_atom::value, atoms::summary_atom::value);
    };
    auto read_modules = [bridge, state, read_summary] {
      bridge.ask<std::vector<module_status>>(
        role::status,
        [state, read_summary](caf::expected<std::vector<module_status>> modules) {
          if (modules)
            state->modules = std::move(*modules);
          read_summary();
        },
        caf::get_atom::value, atoms::modules_atom::value);
    };
    bridge.ask<std::vector<role_status>>(
      role::status,
      [state, read_modules](caf::expected<std::vector<role_status>> roles) {
        if (roles)
          state->roles = std::move(*roles);
        read_modules();
      },
      caf::get_atom::value, atoms::roles_atom::value);
  });
}

// -- admin --------------------------------------------------------------------

void api::add_admin_routes() {
  router_.add("POST", "/rebalance/basic", [this](routed_request, responder respond) {
    bridge_.ask<rebalance_report>(
      role::balancer,
      reply_with<rebalance_report>(respond, [](rebalance_report& report) {
        auto body = rebalance_json(report);
        body["message"] = "Basic rebalance moved "
                          + std::to_string(report.moved) + " stream(s) across "
                          + std::to_string(report.workers_affected.size())
                          + " instance(s): " + report.message;
        return json_response(200, body);
      }),
      atoms::rebalance_atom::value, std::string{"manual"}, true);
  });

  router_.add("POST", "/rebalance/smart", [this](routed_request request, responder respond) {
    auto reason = request.query_value("reason").value_or("manual");
    if (rebalance_reasons().count(reason) == 0) {
      respond(json_response(
        422, validation_body({field_error{{"query", "reason"},
                                          "must be one of manual, new_instance, "
                                          "instance_failure, load_imbalance, "
                                          "performance_degradation",
                                          "value_error.enum"}})));
      return;
    }
    bridge_.ask<rebalance_report>(
      role::balancer,
      reply_with<rebalance_report>(respond, [](rebalance_report& report) {
        auto body = rebalance_json(report);
        if (report.method == "basic")
          body["message"] = "The smart balancer module is not running; the "
                            "basic rebalance moved "
                            + std::to_string(report.moved) + " stream(s): "
                            + report.message;
        else
          body["message"] = "The smart balancer moved "
                            + std::to_string(report.moved) + " stream(s): "
                            + report.message;
        return json_response(200, body);
      }),
      atoms::rebalance_atom::value, reason, false);
  });

  router_.add("GET", "/rebalance/plan", [this](routed_request, responder respond) {
    bridge_.ask<balance_plan>(
      role::balancer,
      reply_with<balance_plan>(respond, [](balance_plan& plan) {
        auto body = plan_json(plan);
        body["status"] = "success";
        body["dry_run"] = true;
        return json_response(200, body);
      }),
      atoms::plan_atom::value);
  });

  router_.add("GET", "/rebalance/check", [this](routed_request, responder respond) {
    bridge_.ask<balance_plan>(
      role::balancer,
      reply_with<balance_plan>(respond, [](balance_plan& plan) {
        auto details = plan_json(plan);
        std::uint64_t streams = 0;
        for (const auto& t : plan.targets)
          streams += t.current;
        bool consistent = true;
        for (const auto& t : plan.targets)
          consistent = consistent && t.current <= t.target + 1
                       && t.current + 1 >= t.target;
        std::string reason
          = !plan.deferred.empty() ? plan.deferred
            : plan.needs_rebalancing
              ? std::to_string(plan.minimum_moves)
                  + " moves would reach balance (" + plan.reason + ")"
              : plan.minimum_moves > 0
                ? "the imbalance is within the thresholds"
                : "the cluster is balanced";
        return json_response(
          200, {{"status", "success"},
                {"consistent", consistent},
                {"needs_rebalancing", plan.needs_rebalancing},
                {"reason", reason},
                {"statistics",
                 {{"instances", plan.targets.size()},
                  {"streams", streams},
                  {"minimum_moves", plan.minimum_moves},
                  {"budget_per_round", plan.budget},
                  {"stream_spread", details["stream_spread"]},
                  {"share_ratio_spread", details["share_ratio_spread"]}}},
                {"instances", details["instances"]}});
      }),
      atoms::plan_atom::value);
  });

  router_.add("GET", "/rebalance/stats", [this](routed_request, responder respond) {
    bridge_.ask<rebalance_stats>(
      role::balancer,
      reply_with<rebalance_stats>(respond, [](rebalance_stats& totals) {
        json by_reason = json::object();
        for (const auto& [reason, moved] : totals.moved_by_reason)
          by_reason[reason] = moved;
        double average = totals.total == 0
                           ? 0.0
                           : totals.total_duration_ms / totals.total;
        double rate = totals.total == 0
                        ? 0.0
                        : 100.0 * totals.successful / totals.total;
        return json_response(
          200, {{"status", "success"},
                {"statistics",
                 {{"total_rebalances", totals.total},
                  {"successful_rebalances", totals.successful},
                  {"total_streams_moved", totals.streams_moved},
                  {"average_execution_time_ms", average},
                  {"last_rebalance", totals.last.empty()
                                       ? json(nullptr)
                                       : rebalance_json(totals.last.front())},
                  {"success_rate", rate},
                  {"streams_moved_by_reason", by_reason}}}});
      }),
      caf::get_atom::value, atoms::stats_atom::value);
  });

  router_.add("GET", "/rebalance/history", [this](routed_request request, responder respond) {
    auto limit = query_integer(request, "limit", 50, 1,
                               static_cast<std::int64_t>(max_rebalance_history),
                               respond);
    if (!limit)
      return;
    bridge_.ask<std::vector<rebalance_report>>(
      role::balancer,
      reply_with<std::vector<rebalance_report>>(
        respond,
        [](std::vector<rebalance_report>& reports) {
          auto list = json::array();
          for (const auto& report : reports)
            list.push_back(rebalance_json(report));
          return json_response(200, {{"status", "success"},
                                     {"rebalances", list},
                                     {"count", reports.size()}});
        }),
      caf::get_atom::value, atoms::history_atom::value,
      static_cast<std::uint64_t>(*limit));
  });

  for (bool draining : {true, false}) {
    router_.add(draining ? "POST" : "DELETE", "/instances/{}/drain",
                [this, draining](routed_request request, responder respond) {
      auto id = request.params[0];
      if (!check_server_id(id, respond))
        return;
      bridge_.ask<worker_view>(
        role::coordinator,
        reply_with<worker_view>(respond, [draining](worker_view& view) {
          auto data = instance_json(view);
          data["assigned_streams"] = sorted_ids(view.owned);
          return json_response(
            200, {{"status", draining ? "draining" : "active"},
                  {"message",
                   draining ? "The instance receives no new streams; the "
                              "balancer moves its streams to others over the "
                              "next rounds"
                            : "The instance receives streams again"},
                  {"data", data}});
        }),
        atoms::drain_atom::value, id, draining);
    });
  }

  router_.add("POST", "/instances/{}/failure", [this](routed_request request, responder respond) {
    auto id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    auto started = std::chrono::steady_clock::now();
    bridge_.ask<failure_report>(
      role::failure_handler,
      reply_with<failure_report>(respond, [id, started](failure_report& report) {
        auto elapsed = std::chrono::duration<double, std::milli>(
                         std::chrono::steady_clock::now() - started)
                         .count();
        return json_response(
          200, {{"status", "completed"},
                {"method", report.method},
                {"server_id", id},
                {"was_active", !report.dead_workers.empty()},
                {"streams_redistributed", report.streams_reassigned},
                {"streams_waiting",
                 report.streams_freed - report.streams_reassigned},
                {"instances_affected", report.receivers.size()},
                {"execution_time_ms", elapsed},
                {"error", nullptr}});
      }),
      atoms::fail_atom::value, id);
  });

  router_.add("DELETE", "/instances/{}", [this](routed_request request, responder respond) {
    auto id = request.params[0];
    if (!check_server_id(id, respond))
      return;
    bridge_.ask<deregister_reply>(
      role::coordinator,
      reply_with<deregister_reply>(respond, [id](deregister_reply& reply) {
        return json_response(200, {{"status", "deregistered"},
                                   {"server_id", id},
                                   {"streams_freed", reply.freed_streams.size()},
                                   {"streams_reassigned", reply.reassigned}});
      }),
      atoms::deregister_atom::value, id);
  });
}

// -- catalogue ----------------------------------------------------------------

void api::add_catalog_routes() {
  router_.add("POST", "/streams", [this](routed_request request, responder respond) {
    auto body = parse_json(request.raw.body);
    if (!body) {
      respond(unparsable_body(body.errors));
      return;
    }
    auto rows = decode_streams(*body.value, config_.max_streams_per_request);
    if (!rows) {
      respond(json_response(422, validation_body(rows.errors)));
      return;
    }
    auto count = rows.value->size();
    bridge_.ask<catalog_result>(
      role::coordinator,
      reply_with<catalog_result>(respond, [count](catalog_result& result) {
        return json_response(result.created > 0 ? 201 : 200,
                             {{"status", "ok"},
                              {"received", count},
                              {"created", result.created},
                              {"updated", result.updated},
                              {"unchanged",
                               count - result.created - result.updated}});
      }),
      caf::put_atom::value, std::move(*rows.value));
  });

  router_.add("GET", "/streams", [this](routed_request request, responder respond) {
    auto limit = query_integer(request, "limit", 1000, 1, 10000, respond);
    if (!limit)
      return;
    auto offset = query_integer(request, "offset", 0, 0, 1'000'000'000'000, respond);
    if (!offset)
      return;
    auto first = static_cast<std::uint64_t>(*offset);
    auto count = static_cast<std::uint64_t>(*limit);
    bridge_.ask<stream_page>(
      role::coordinator,
      reply_with<stream_page>(respond, [first, count](stream_page& page) {
        auto list = json::array();
        for (const auto& view : page.streams)
          list.push_back(stream_json(view));
        return json_response(200, {{"streams", list},
                                   {"total", page.total},
                                   {"offset", first},
                                   {"limit", count}});
      }),
      caf::get_atom::value, atoms::streams_atom::value, first, count);
  });

  router_.add("DELETE", "/streams/{}", [this](routed_request request, responder respond) {
    auto parsed = parse_stream_id(request.params[0]);
    if (!parsed) {
      respond(json_response(
        422, validation_body({field_error{{"path", "stream_id"},
                                          "value is not a valid positive integer",
                                          "type_error.integer"}})));
      return;
    }
    auto stream_id = *parsed;
    bridge_.ask<std::string>(
      role::coordinator,
      reply_with<std::string>(respond, [stream_id](std::string& owner) {
        return json_response(200, {{"status", "deleted"},
                                   {"stream_id", stream_id},
                                   {"previous_owner", owner.empty()
                                                        ? json(nullptr)
                                                        : json(owner)}});
      }),
      caf::delete_atom::value, stream_id);
  });
}

} // namespace orchestrator

namespace orchestrator {

// -- second generation (/api/*) -----------------------------------------------

namespace {

/// Adds the capacity note to an /api reply whose claim was capped.
void note_cap(json& body, const api_registration& registration) {
  if (!registration.capped)
    return;
  body["capacity_capped"] = true;
  body["requested_capacity"] = registration.requested_capacity;
  body["message"] = body.value("message", std::string{}) + "; capacity "
                    + std::to_string(registration.requested_capacity)
                    + " is above the maximum of "
                    + std::to_string(registration.request.max_streams)
                    + " (--max-worker-capacity) and was capped";
}

/// Like error_response, but points an unknown /api worker at the /api way
/// of registering.
http_response api_error_response(const caf::error& err) {
  auto response = error_response(err);
  const std::string legacy = "POST /register";
  if (auto at = response.body.find(legacy); at != std::string::npos)
    response.body.replace(at, legacy.size(),
                          "POST /api/workers/register or POST /api/heartbeat");
  return response;
}

template <class Reply, class Render>
std::function<void(caf::expected<Reply>)> api_reply_with(responder respond,
                                                         Render render) {
  return [respond, render](caf::expected<Reply> reply) {
    if (!reply) {
      respond(api_error_response(reply.error()));
      return;
    }
    respond(render(*reply));
  };
}

json stream_details(const stream_row& row) {
  auto metadata = json::parse(row.metadata, nullptr, false);
  if (!metadata.is_object())
    metadata = json::object();
  return {{"stream_id", std::to_string(row.id)},
          {"id", row.id},
          {"stream_url", row.url},
          {"url", row.url},
          {"name", row.name},
          {"metadata", metadata}};
}

} // namespace

void api::add_generation_two_routes() {
  router_.add("POST", "/api/workers/register",
              [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_api_registration(j, config_.limits, config_.max_capacity);
    });
    if (!body)
      return;
    auto registration = *body;
    bridge_.ask<register_reply>(
      role::coordinator,
      api_reply_with<register_reply>(respond, [registration](register_reply& reply) {
        json out = {{"success", true},
                    {"worker_id", registration.request.server_id},
                    {"message", reply.reregistration
                                  ? "worker registered again; it keeps its "
                                    "streams"
                                  : "worker registered"},
                    {"capacity", reply.max_streams},
                    {"reregistration", reply.reregistration},
                    {"assigned_streams", sorted_ids(reply.owned)}};
        note_cap(out, registration);
        return json_response(200, out);
      }),
      atoms::register_atom::value, registration.request);
  });

  router_.add("POST", "/api/heartbeat", [this](routed_request request, responder respond) {
    auto body = decode_body(request, respond, [this](const json& j) {
      return decode_api_heartbeat(j, config_.limits, config_.max_capacity);
    });
    if (!body)
      return;
    auto bridge = bridge_;
    auto beat = *body;
    auto render = [respond, bridge, beat](caf::expected<heartbeat_reply> reply,
                                          bool registered) {
      if (!reply) {
        respond(api_error_response(reply.error()));
        return;
      }
      if (beat.metrics) {
        auto sample = *beat.metrics;
        sample.recorded_at_ms = now_instant().wall_ms;
        bridge.tell(role::metrics, atoms::record_atom::value,
                    beat.beat.server_id, sample);
        bridge.tell(role::store, atoms::record_atom::value, beat.beat.server_id,
                    sample);
      }
      json out = {{"success", true},
                  {"message", registered ? "unknown worker registered from its "
                                           "heartbeat"
                                         : "heartbeat recorded"},
                  {"registered", registered},
                  {"assigned_streams", sorted_ids(reply->owned)}};
      if (registered)
        note_cap(out, beat.registration);
      respond(json_response(200, out));
    };
    bridge_.ask<heartbeat_reply>(
      role::coordinator,
      [bridge, beat, render, respond](caf::expected<heartbeat_reply> reply) {
        bool unknown = !reply
                       && (is(reply.error(), errc::unknown_worker)
                           || is(reply.error(), errc::worker_dead));
        if (!unknown) {
          render(std::move(reply), false);
          return;
        }
        // The Python server registered unknown workers from their
        // heartbeat; a worker declared dead starts over the same way.
        bridge.ask<register_reply>(
          role::coordinator,
          [bridge, beat, render, respond](caf::expected<register_reply> joined) {
            if (!joined) {
              respond(api_error_response(joined.error()));
              return;
            }
            bridge.ask<heartbeat_reply>(
              role::coordinator,
              [render](caf::expected<heartbeat_reply> again) {
                render(std::move(again), true);
              },
              atoms::heartbeat_atom::value, beat.beat);
          },
          atoms::register_atom::value, beat.registration.request);
      },
      atoms::heartbeat_atom::value, beat.beat);
  });

  router_.add("GET", "/api/workers", [this](routed_request, responder respond) {
    bridge_.ask<std::vector<worker_view>>(
      role::coordinator,
      api_reply_with<std::vector<worker_view>>(respond, [](std::vector<worker_view>& views) {
        auto list = json::array();
        for (const auto& view : views) {
          const auto& row = view.row;
          auto load = static_cast<std::int64_t>(view.stream_count);
          list.push_back(
            {{"instance_id", row.server_id},
             {"worker_type", row.worker_type},
             {"status", to_string(row.state)},
             {"capacity", row.max_streams},
             {"current_load", load},
             {"available_capacity",
              std::max<std::int64_t>(0, std::int64_t{row.max_streams} - load)},
             {"last_heartbeat", iso_time(row.last_heartbeat_ms)},
             {"registered_at", iso_time(row.registered_at_ms)}});
        }
        return json_response(200, {{"workers", list}, {"total", views.size()}});
      }),
      caf::get_atom::value, atoms::workers_atom::value);
  });

  router_.add("GET", "/api/streams/assign", [this](routed_request request,
                                                   responder respond) {
    auto worker = request.query_value("worker_id");
    if (!worker || !valid_server_id(*worker)) {
      respond(json_response(
        422, validation_body({field_error{
               {"query", "worker_id"},
               worker ? "must be 1 to 128 printable ASCII characters without "
                        "spaces or '/'"
                      : "field required",
               worker ? "value_error.server_id" : "value_error.missing"}})));
      return;
    }
    auto capacity = query_integer(request, "capacity", 1, 1, 100000, respond);
    if (!capacity)
      return;
    if (auto type = request.query_value("worker_type"); type && type->size() > 64) {
      respond(json_response(
        422, validation_body({field_error{{"query", "worker_type"},
                                          "ensure this value has at most 64 "
                                          "characters",
                                          "value_error.any_str.max_length"}})));
      return;
    }
    auto requested = *capacity;
    auto granted = std::min<std::int64_t>(requested, config_.max_capacity);
    auto server_id = *worker;
    auto bridge = bridge_;
    auto finish = [respond, server_id, requested, granted](json out) {
      out["worker_id"] = server_id;
      if (granted < requested) {
        out["capacity_capped"] = true;
        out["requested_capacity"] = requested;
        out["capacity"] = granted;
      }
      respond(json_response(200, out));
    };
    bridge_.ask<assign_reply>(
      role::coordinator,
      [respond, bridge, finish](caf::expected<assign_reply> reply) {
        if (!reply) {
          respond(api_error_response(reply.error()));
          return;
        }
        if (reply->assigned.empty()) {
          finish({{"status", "no_streams"},
                  {"assigned_streams", json::array()},
                  {"message", reply->outcome == assign_outcome::no_capacity
                                ? "the worker is at its capacity"
                                : "no stream is waiting for a worker"}});
          return;
        }
        auto ids = reply->assigned;
        bridge.ask<std::vector<stream_row>>(
          role::coordinator,
          [respond, ids, finish](caf::expected<std::vector<stream_row>> rows) {
            if (!rows) {
              respond(api_error_response(rows.error()));
              return;
            }
            auto details = json::array();
            for (const auto& row : *rows)
              details.push_back(stream_details(row));
            finish({{"status", "assigned"},
                    {"assigned_streams", ids},
                    {"streams", details},
                    {"total", ids.size()}});
          },
          caf::get_atom::value, atoms::streams_atom::value, ids);
      },
      atoms::assign_atom::value,
      assign_request{server_id, static_cast<std::uint32_t>(granted)});
  });

  router_.add("POST", "/api/streams/update", [this](routed_request request,
                                                    responder respond) {
    auto body = decode_body(request, respond, [](const json& j) {
      return decode_api_stream_update(j);
    });
    if (!body)
      return;
    auto update = *body;
    auto outcomes = outcomes_;
    auto id_text = std::to_string(update.stream_id);
    if (!update.ends) {
      // Progress only: the worker must exist, nothing changes.
      bridge_.ask<worker_view>(
        role::coordinator,
        api_reply_with<worker_view>(respond, [update, id_text](worker_view& view) {
          bool owns = std::any_of(view.owned.begin(), view.owned.end(),
                                  [&](const stream_lease& lease) {
                                    return lease.stream_id == update.stream_id;
                                  });
          return json_response(
            200, {{"success", true},
                  {"message", owns ? "stream " + id_text + " is " + update.status
                                   : "stream " + id_text + " is not assigned to "
                                       + update.server_id + "; nothing changed"},
                  {"ended", false}});
        }),
        caf::get_atom::value, atoms::worker_atom::value, update.server_id);
      return;
    }
    bridge_.ask<release_reply>(
      role::coordinator,
      api_reply_with<release_reply>(respond, [update, id_text, outcomes](release_reply& reply) {
        if (reply.released.empty())
          return json_response(200, {{"success", true},
                                     {"message", "stream " + id_text
                                                   + " is not assigned to "
                                                   + update.server_id
                                                   + "; nothing changed"},
                                     {"ended", false}});
        if (update.status == "completed")
          ++outcomes->completed;
        else if (update.status == "failed")
          ++outcomes->failed;
        else
          ++outcomes->cancelled;
        return json_response(200, {{"success", true},
                                   {"message", "stream " + id_text + " "
                                                 + update.status
                                                 + "; it is free for another "
                                                   "worker"},
                                   {"ended", true}});
      }),
      atoms::release_atom::value,
      release_request{update.server_id, {update.stream_id}, {}});
  });

  router_.add("GET", "/api/metrics", [this](routed_request, responder respond) {
    auto outcomes = outcomes_;
    auto started = started_ms_;
    bridge_.ask<cluster_summary>(
      role::coordinator,
      api_reply_with<cluster_summary>(respond, [outcomes, started](cluster_summary& s) {
        auto now = now_instant().wall_ms;
        auto completed = outcomes->completed.load();
        auto failed = outcomes->failed.load();
        auto finished = completed + failed;
        return json_response(
          200,
          {{"orchestrator", {{"status", s.store_available ? "active" : "degraded"},
                             {"uptime", static_cast<double>(now - started) / 1000.0},
                             {"timestamp", iso_time(now)}}},
           {"workers", {{"total", s.workers_total},
                        {"active", s.workers_active},
                        {"total_capacity", s.total_capacity},
                        {"current_load", s.current_load},
                        {"utilization_percent",
                         s.total_capacity == 0
                           ? 0.0
                           : 100.0 * static_cast<double>(s.current_load)
                               / static_cast<double>(s.total_capacity)}}},
           {"streams", {{"total_assignments", s.streams_assigned},
                        {"completed", completed},
                        {"failed", failed},
                        {"cancelled", outcomes->cancelled.load()},
                        {"processing", s.streams_assigned},
                        {"success_rate",
                         finished == 0 ? 100.0
                                       : 100.0 * static_cast<double>(completed)
                                           / static_cast<double>(finished)},
                        {"counted_since", iso_time(started)}}}});
      }),
      caf::get_atom::value, atoms::summary_atom::value);
  });
}

} // namespace orchestrator
