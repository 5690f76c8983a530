#include "actors/store_actor.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace orchestrator {

caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          store_factory factory) {
  auto opened = factory();
  if (!opened) {
    logger("store")->error("store-open-failed error=\"{}\"",
                           describe(opened.error()));
    self->quit(opened.error());
    return {};
  }
  self->state.backend = std::move(*opened);
  logger("store")->debug("store-opened store={}",
                         self->state.backend->describe());
  return {
    [self](atoms::load_atom) -> caf::result<store_snapshot> {
      auto snapshot = self->state.backend->load();
      if (!snapshot)
        logger("store")->error("store-load-failed error=\"{}\"",
                               describe(snapshot.error()));
      return snapshot;
    },
    [self](atoms::record_atom,
           const rebalance_report& report) -> caf::result<caf::ok_atom> {
      if (auto err = self->state.backend->append_rebalance(report)) {
        logger("store")->warn("rebalance-record-failed id={} error=\"{}\"",
                              report.id, describe(err));
        return err;
      }
      return caf::ok_atom::value;
    },
    [self](caf::get_atom, atoms::history_atom,
           std::uint64_t limit) -> caf::result<rebalance_history> {
      return self->state.backend->load_rebalances(static_cast<std::size_t>(limit));
    },
    [self](atoms::commit_atom,
           const std::vector<change>& changes) -> caf::result<caf::ok_atom> {
      if (auto err = self->state.backend->commit(changes)) {
        logger("store")->error("store-commit-failed changes={} error=\"{}\"",
                               changes.size(), describe(err));
        return err;
      }
      return caf::ok_atom::value;
    },
  };
}

} // namespace orchestrator
