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

namespace orchestrator {

namespace {

peers current_handles(const supervisor_state& st) {
  peers result;
  for (const auto& r : st.roles)
    result.set(r.spec.name, r.handle);
  return result;
}

void publish_status(supervisor_self* self, const supervised_role& r) {
  for (const auto& target : self->state.roles)
    if (target.spec.name == role::status && target.handle)
      self->send(target.handle, caf::update_atom::value, r.status);
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

void start(supervisor_self* self, supervised_role& r) {
  r.handle = r.spec.spawn(self, current_handles(self->state));
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
  r.status.variant = r.spec.variant;
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
  auto reason = down.reason ? self->system().render(down.reason)
                            : std::string{"stopped normally"};
  auto now = std::chrono::steady_clock::now();
  while (!r.restarts.empty()
         && now - r.restarts.front() > st.policy.restart_window)
    r.restarts.pop_front();

  if (static_cast<int>(r.restarts.size()) >= st.policy.max_restarts) {
    r.handle = caf::actor{};
    r.status.state = "failed";
    r.status.error = reason;
    logger("actors")->error("role-failed role={} variant={} restarts={} "
                            "error=\"{}\"",
                            to_string(r.spec.name), r.spec.variant,
                            r.restarts.size(), reason);
    announce(self, r);
    publish_status(self, r);
    return;
  }

  r.restarts.push_back(now);
  ++r.status.restarts;
  r.status.error = reason;
  logger("actors")->warn("role-restarting role={} variant={} restart={} "
                         "error=\"{}\"",
                         to_string(r.spec.name), r.spec.variant,
                         r.status.restarts, reason);
  start(self, r);
  announce(self, r);
  if (r.spec.name == role::status)
    for (const auto& other : st.roles)
      publish_status(self, other);
  else
    publish_status(self, r);
}

} // namespace

std::vector<child_spec> basic_children(const settings& config,
                                       store_factory open_store) {
  std::vector<child_spec> result;
  result.push_back({role::status, "basic",
                    [](caf::local_actor* sup, const peers&) {
                      return caf::actor{sup->spawn(status_actor)};
                    },
                    false});
  result.push_back({role::metrics, "basic",
                    [](caf::local_actor* sup, const peers&) {
                      return caf::actor{sup->spawn(metrics_actor)};
                    },
                    false});
  result.push_back({role::store, "sqlite",
                    [open_store](caf::local_actor* sup, const peers&) {
                      return caf::actor{
                        sup->spawn<caf::detached>(store_actor, open_store)};
                    },
                    false});
  result.push_back({role::coordinator, "basic",
                    [config](caf::local_actor* sup, const peers& handles) {
                      return caf::actor{
                        sup->spawn(coordinator_actor, config, handles)};
                    }});
  result.push_back({role::balancer, "basic",
                    [config](caf::local_actor* sup, const peers& handles) {
                      return caf::actor{
                        sup->spawn(balancer_actor, config, handles,
                                   std::shared_ptr<balancer>{
                                     std::make_shared<basic_balancer>()})};
                    }});
  result.push_back({role::failure_handler, "basic",
                    [config](caf::local_actor* sup, const peers& handles) {
                      auto detector = std::make_shared<timeout_detector>(
                        config.heartbeat_timeout.count());
                      return caf::actor{
                        sup->spawn(failure_handler_actor, config, handles,
                                   std::shared_ptr<failure_detector>{detector})};
                    }});
  return result;
}

caf::behavior supervisor_actor(supervisor_self* self,
                               std::vector<child_spec> children,
                               restart_policy policy, caf::actor gateway) {
  auto& st = self->state;
  st.policy = policy;
  st.gateway = std::move(gateway);
  for (auto& spec : children) {
    supervised_role r;
    r.status.role = to_string(spec.name);
    r.status.variant = spec.variant;
    r.status.state = "starting";
    r.spec = std::move(spec);
    st.roles.push_back(std::move(r));
  }

  // Start in order, so each child receives the handles of the ones before
  // it, then announce every handle, so earlier children learn later ones.
  for (auto& r : st.roles)
    start(self, r);
  for (const auto& r : st.roles) {
    announce(self, r);
    publish_status(self, r);
    logger("actors")->debug("role-started role={} variant={}",
                            to_string(r.spec.name), r.spec.variant);
  }

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
  };
}

} // namespace orchestrator
