#include "actors/supervisor.hpp"

#include "actors/balancer.hpp"
#include "actors/coordinator.hpp"
#include "actors/errors.hpp"
#include "actors/failure_handler.hpp"
#include "actors/logging.hpp"
#include "actors/metrics.hpp"
#include "actors/status.hpp"
#include "modules/balancer/basic_balancer.hpp"
#include "modules/failure/timeout_detector.hpp"

#include <caf/all.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

namespace orchestrator {

namespace {

std::int64_t wall_now_ms() {
  return now_instant().wall_ms;
}

peers current_handles(const supervisor_state& st) {
  peers result;
  for (const auto& r : st.roles)
    result.set(r.spec.name, r.handle);
  return result;
}

const caf::actor* status_handle(const supervisor_state& st) {
  for (const auto& r : st.roles)
    if (r.spec.name == role::status && r.handle)
      return &r.handle;
  return nullptr;
}

void publish_role(supervisor_self* self, const supervised_role& r) {
  if (const auto* status = status_handle(self->state))
    self->send(*status, caf::update_atom::value, r.status);
}

void publish_module(supervisor_self* self, const module_status& m) {
  if (const auto* status = status_handle(self->state))
    self->send(*status, caf::update_atom::value, m);
}

/// Tells every child and the gateway the current handle of `r`.
void announce(supervisor_self* self, const supervised_role& r) {
  for (const auto& target : self->state.roles)
    if (target.handle && target.spec.tracks_peers
        && target.spec.name != r.spec.name)
      self->send(target.handle, caf::update_atom::value, r.spec.name, r.handle);
  if (self->state.gateway)
    self->send(self->state.gateway, caf::update_atom::value, r.spec.name,
               r.handle);
}

module_candidate* module_of(supervisor_state& st, const supervised_role& r) {
  if (r.spec.module.empty())
    return nullptr;
  auto i = st.modules.find(r.spec.module);
  return i == st.modules.end() ? nullptr : &i->second;
}

/// Records in the role and its module that the role now runs `variant`.
void set_variant(supervisor_self* self, supervised_role& r,
                 const std::string& variant, const std::string& error) {
  r.status.variant = variant;
  if (auto* m = module_of(self->state, r)) {
    m->status.variant = variant;
    m->status.initialized = variant == m->status.name;
    m->status.error = error;
    m->status.since_ms = wall_now_ms();
    publish_module(self, m->status);
  }
}

/// Creates the enhanced strategy for `r` if its module is loaded. On
/// failure the role falls back to basic and the error is recorded.
void choose_strategy(supervisor_self* self, supervised_role& r) {
  r.enhanced = nullptr;
  auto* m = module_of(self->state, r);
  if (m == nullptr || !m->library || !r.spec.make_enhanced) {
    set_variant(self, r, "basic", m != nullptr ? m->status.error : "");
    return;
  }
  auto strategy = r.spec.make_enhanced(*m->library);
  if (!strategy) {
    auto error = describe(strategy.error());
    logger("actors")->warn("module-init-failed module={} role={} error=\"{}\" "
                           "fallback=basic",
                           m->status.name, to_string(r.spec.name), error);
    set_variant(self, r, "basic", error);
    return;
  }
  r.enhanced = std::move(*strategy);
  logger("actors")->info("module-initialised module={} role={}",
                         m->status.name, to_string(r.spec.name));
  set_variant(self, r, m->status.name, "");
}

void start(supervisor_self* self, supervised_role& r) {
  r.handle = r.spec.spawn(self, current_handles(self->state), r.enhanced);
  // Monitoring a child that already stopped still delivers its down message.
  self->monitor(r.handle);
  // Children stop with the supervisor, even if it crashes, so none is left
  // running without supervision. Links would do this too, but a child
  // killed with exit_reason::kill would then take the supervisor down.
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(r.handle);
  self->attach_functor([weak](const caf::error&) {
    auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak);
    if (auto child = caf::actor_cast<caf::actor>(strong))
      caf::anon_send_exit(child, caf::exit_reason::user_shutdown);
  });
  r.status.state = "running";
}

void on_down(supervisor_self* self, const caf::down_msg& down) {
  auto& st = self->state;
  if (st.stopping)
    return;
  auto i = std::find_if(st.roles.begin(), st.roles.end(), [&](const auto& r) {
    return r.handle && r.handle.address() == down.source;
  });
  if (i == st.roles.end())
    return;

  auto& r = *i;
  auto reason = down.reason ? describe(down.reason)
                            : std::string{"stopped normally"};
  auto now = std::chrono::steady_clock::now();
  while (!r.restarts.empty()
         && now - r.restarts.front() > st.policy.restart_window)
    r.restarts.pop_front();

  if (static_cast<int>(r.restarts.size()) >= st.policy.max_restarts) {
    if (r.enhanced) {
      // An enhanced variant that keeps crashing is replaced by the basic one
      // with a fresh restart budget.
      auto error = "crashed " + std::to_string(r.restarts.size() + 1)
                   + " times within "
                   + std::to_string(st.policy.restart_window.count())
                   + " ms, last with " + reason;
      logger("actors")->warn("module-replaced role={} module={} error=\"{}\" "
                             "fallback=basic",
                             to_string(r.spec.name), r.status.variant, error);
      r.enhanced = nullptr;
      r.restarts.clear();
      set_variant(self, r, "basic", error);
      r.status.error = error;
      start(self, r);
      announce(self, r);
      publish_role(self, r);
      return;
    }
    r.handle = caf::actor{};
    r.status.state = "failed";
    r.status.error = reason;
    logger("actors")->error("role-failed role={} variant={} restarts={} "
                            "error=\"{}\"",
                            to_string(r.spec.name), r.status.variant,
                            r.restarts.size(), reason);
    announce(self, r);
    publish_role(self, r);
    return;
  }

  r.restarts.push_back(now);
  ++r.status.restarts;
  r.status.error = reason;
  logger("actors")->warn("role-restarting role={} variant={} restart={} "
                         "error=\"{}\"",
                         to_string(r.spec.name), r.status.variant,
                         r.status.restarts, reason);
  start(self, r);
  announce(self, r);
  if (r.spec.name == role::status) {
    for (const auto& other : st.roles)
      publish_role(self, other);
    for (const auto& entry : st.modules)
      publish_module(self, entry.second.status);
  } else {
    publish_role(self, r);
  }
}

/// Finds the module called `name` (ours or its Python alias) and its role.
caf::expected<std::pair<module_candidate*, supervised_role*>>
find_module(supervisor_state& st, const std::string& name) {
  auto i = st.modules.find(name);
  if (i == st.modules.end())
    return make_error(errc::invalid_request,
                      "unknown module '" + name
                        + "'; the modules are smart_balancer, "
                          "resilient_failure_handler and system_metrics");
  for (auto& r : st.roles)
    if (r.spec.module == name)
      return std::make_pair(&i->second, &r);
  return make_error(errc::invalid_request,
                    "module '" + name + "' enhances no running role");
}

/// Switches the running actor of `r` to its current strategy in place.
void swap_in_place(supervisor_self* self, supervised_role& r) {
  if (r.handle && r.spec.swap_message)
    self->send(r.handle, r.spec.swap_message(r.enhanced));
  publish_role(self, r);
}

caf::result<module_status> reload_module(supervisor_self* self,
                                         const std::string& name) {
  auto found = find_module(self->state, name);
  if (!found)
    return found.error();
  // Plain variables, not a structured binding: clang 14 rejects capturing
  // one in the lambda below.
  auto* m = found->first;
  auto* r = found->second;

  // A failed reload leaves the role on what it runs now.
  auto reject = [&](const caf::error& reason) -> caf::error {
    auto error = describe(reason);
    logger("actors")->warn("module-reload-failed module={} error=\"{}\" "
                           "variant={}",
                           name, error, r->status.variant);
    return make_error(errc::invalid_request,
                      error + "; the role keeps running " + r->status.variant);
  };
  auto library = load_module(m->status.file, m->status.name, m->status.role);
  if (!library) {
    std::error_code ec;
    m->status.found = std::filesystem::exists(m->status.file, ec);
    publish_module(self, m->status);
    return reject(library.error());
  }
  auto strategy = r->spec.make_enhanced(*library);
  if (!strategy)
    return reject(strategy.error());

  m->library = std::move(*library);
  m->status.found = true;
  m->status.loaded = true;
  m->status.version = m->library->version;
  r->enhanced = std::move(*strategy);
  r->restarts.clear();
  set_variant(self, *r, name, "");
  swap_in_place(self, *r);
  logger("actors")->info("module-reloaded module={} version={} file={}", name,
                         m->status.version, m->status.file);
  return m->status;
}

caf::result<module_status> disable_module(supervisor_self* self,
                                          const std::string& name) {
  auto found = find_module(self->state, name);
  if (!found)
    return found.error();
  auto [m, r] = *found;
  r->enhanced = nullptr;
  // The library handle is released once the role's actor drops the old
  // strategy; its code stays mapped (RTLD_NODELETE).
  m->library.reset();
  m->status.loaded = false;
  m->status.version.clear();
  set_variant(self, *r, "basic", "disabled by an operator");
  swap_in_place(self, *r);
  logger("actors")->info("module-disabled module={} role={}", name,
                         to_string(r->spec.name));
  return m->status;
}

} // namespace

/// Returns a factory that makes a module's strategy as `Strategy`.
template <class Strategy>
std::function<caf::expected<strategy_ptr>(const module_library&)>
enhanced_factory(std::string module_settings) {
  return [module_settings](const module_library& library)
           -> caf::expected<strategy_ptr> {
    auto strategy = create_strategy<Strategy>(library, module_settings);
    if (!strategy)
      return strategy.error();
    return strategy_ptr{*strategy};
  };
}

child_spec make_child(role name, spawn_function spawn) {
  child_spec result;
  result.name = name;
  result.spawn = std::move(spawn);
  return result;
}

std::string module_settings_json(const settings& config) {
  const auto& b = config.balancing;
  return nlohmann::json{
    {"heartbeat_timeout_ms", config.heartbeat_timeout.count()},
    {"heartbeat_check_interval_ms", config.heartbeat_check_interval.count()},
    {"rebalance_interval_ms", config.rebalance_interval.count()},
    {"balancer",
     {{"max_moves", b.max_moves},
      {"max_move_fraction", b.max_move_fraction},
      {"imbalance_threshold", b.imbalance_threshold},
      {"max_stream_difference", b.max_stream_difference},
      {"max_load_factor", b.max_load_factor},
      {"min_instances", b.min_instances},
      {"cooldown_ms", b.cooldown_ms},
      {"load_average_full", b.load_average_full},
      {"weights",
       {{"cpu", b.weights.cpu},
        {"memory", b.weights.memory},
        {"load", b.weights.load},
        {"failures", b.weights.failures},
        {"response_time", b.weights.response_time}}}}},
    {"failure",
     {{"phi_threshold", config.phi_threshold},
      {"acceptable_pause_ms", config.acceptable_pause.count()},
      {"grace_ms", config.suspect_grace.count()},
      {"max_suspect_fraction", config.max_suspect_fraction},
      {"quarantine_base_ms", config.quarantine_base.count()},
      {"quarantine_max_ms", config.quarantine_max.count()}}},
    {"data_dir", config.data_dir}}
    .dump();
}

std::vector<child_spec>
standard_children(const settings& config, store_factory open_store,
                  std::shared_ptr<heartbeat_board> board) {
  auto module_settings = module_settings_json(config);
  std::vector<child_spec> result;

  auto status = make_child(role::status,
                    [](caf::local_actor* sup, const peers&, const strategy_ptr&) {
                      return caf::actor{sup->spawn(status_actor)};
                    });
  status.tracks_peers = false;
  result.push_back(std::move(status));

  // A worker silent for the dead-worker retention is gone from the
  // coordinator too, so its newest sample goes then. The balancer needs
  // samples of up to balancer_sample_max_age, even with a shorter retention.
  auto forget_after = std::max(config.dead_worker_retention,
                               duration{balancer_sample_max_age});
  auto metrics = make_child(role::metrics,
                     [config, forget_after](caf::local_actor* sup, const peers&,
                                            const strategy_ptr& enhanced) {
                       return caf::actor{sup->spawn(
                         metrics_actor,
                         std::static_pointer_cast<host_metrics>(enhanced),
                         config.metrics_interval, forget_after)};
                     });
  metrics.tracks_peers = false;
  metrics.module = "system_metrics";
  metrics.make_enhanced = enhanced_factory<host_metrics>(module_settings);
  metrics.swap_message = [](const strategy_ptr& enhanced) {
    return caf::make_message(caf::update_atom::value,
                             std::static_pointer_cast<host_metrics>(enhanced));
  };
  result.push_back(std::move(metrics));

  auto store = make_child(role::store,
                   [open_store, retention = config.metrics_retention](
                     caf::local_actor* sup, const peers&, const strategy_ptr&) {
                     return caf::actor{sup->spawn<caf::detached>(
                       store_actor, open_store, retention)};
                   });
  store.tracks_peers = false;
  result.push_back(std::move(store));

  result.push_back(make_child(role::coordinator,
                              [config, board](caf::local_actor* sup,
                                              const peers& handles,
                                              const strategy_ptr&) {
                                return caf::actor{sup->spawn(
                                  coordinator_actor, config, handles, board)};
                              }));

  auto balancer_spec = make_child(
    role::balancer,
    [config](caf::local_actor* sup, const peers& handles,
             const strategy_ptr& enhanced) {
      std::shared_ptr<balancer> policy
        = enhanced ? std::static_pointer_cast<balancer>(enhanced)
                   : std::make_shared<basic_balancer>();
      return caf::actor{sup->spawn(balancer_actor, config, handles, policy)};
    });
  balancer_spec.module = "smart_balancer";
  balancer_spec.make_enhanced = enhanced_factory<balancer>(module_settings);
  balancer_spec.swap_message = [](const strategy_ptr& enhanced) {
    std::shared_ptr<balancer> policy
      = enhanced ? std::static_pointer_cast<balancer>(enhanced)
                 : std::make_shared<basic_balancer>();
    return caf::make_message(caf::update_atom::value, policy);
  };
  result.push_back(std::move(balancer_spec));

  auto timeout_ms = config.heartbeat_timeout.count();
  auto check_ms = config.heartbeat_check_interval.count();
  auto failure_spec = make_child(
    role::failure_handler,
    [config, timeout_ms, check_ms](caf::local_actor* sup, const peers& handles,
                                   const strategy_ptr& enhanced) {
      std::shared_ptr<failure_detector> detector
        = enhanced ? std::static_pointer_cast<failure_detector>(enhanced)
                   : std::make_shared<timeout_detector>(timeout_ms, check_ms);
      return caf::actor{
        sup->spawn(failure_handler_actor, config, handles, detector)};
    });
  failure_spec.module = "resilient_failure_handler";
  failure_spec.make_enhanced = enhanced_factory<failure_detector>(module_settings);
  failure_spec.swap_message = [timeout_ms, check_ms](const strategy_ptr& enhanced) {
    std::shared_ptr<failure_detector> detector
      = enhanced ? std::static_pointer_cast<failure_detector>(enhanced)
                 : std::make_shared<timeout_detector>(timeout_ms, check_ms);
    return caf::make_message(caf::update_atom::value, detector);
  };
  result.push_back(std::move(failure_spec));
  return result;
}

caf::behavior supervisor_actor(supervisor_self* self,
                               std::vector<child_spec> children,
                               std::vector<module_candidate> modules,
                               restart_policy policy, caf::actor gateway) {
  auto& st = self->state;
  st.policy = policy;
  st.gateway = std::move(gateway);
  for (auto& m : modules)
    st.modules[m.status.name] = std::move(m);
  for (auto& spec : children) {
    supervised_role r;
    r.status.role = to_string(spec.name);
    r.status.variant = "basic";
    r.status.state = "starting";
    r.spec = std::move(spec);
    st.roles.push_back(std::move(r));
  }

  // Start in order, so each child receives the handles of the ones before
  // it, then announce every handle, so earlier children learn later ones.
  for (auto& r : st.roles) {
    choose_strategy(self, r);
    start(self, r);
  }
  for (const auto& r : st.roles) {
    announce(self, r);
    publish_role(self, r);
    logger("actors")->debug("role-started role={} variant={}",
                            to_string(r.spec.name), r.status.variant);
  }
  for (const auto& entry : st.modules)
    publish_module(self, entry.second.status);

  self->set_down_handler(
    [self](caf::down_msg& down) { on_down(self, down); });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.stopping = true;
    for (auto& r : self->state.roles)
      if (r.handle)
        self->send_exit(r.handle, msg.reason);
    self->quit(msg.reason);
  });

  return {
    [self](caf::get_atom, atoms::roles_atom) {
      std::vector<role_status> result;
      for (const auto& r : self->state.roles)
        result.push_back(r.status);
      return result;
    },
    [self](caf::get_atom, atoms::modules_atom) {
      std::vector<module_status> result;
      for (const auto& entry : self->state.modules)
        result.push_back(entry.second.status);
      return result;
    },
    [self](atoms::reload_atom,
           const std::string& name) -> caf::result<module_status> {
      return reload_module(self, name);
    },
    [self](atoms::disable_atom,
           const std::string& name) -> caf::result<module_status> {
      return disable_module(self, name);
    },
  };
}

} // namespace orchestrator
