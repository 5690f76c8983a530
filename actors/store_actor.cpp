#include "actors/store_actor.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace orchestrator {

namespace {

using store_self = caf::stateful_actor<store_state>;

/// Writes the buffered samples; on failure they wait for the next tick.
void flush_samples(store_self* self) {
  auto& st = self->state;
  if (st.samples.empty())
    return;
  if (auto err = st.backend->append_samples(st.samples)) {
    logger("store")->debug("metrics-flush-failed samples={} error=\"{}\"",
                           st.samples.size(), describe(err));
    return;
  }
  st.samples.clear();
}

/// Checks the connection, logging only when its state changes, and flushes
/// the samples while it works.
void check_store(store_self* self) {
  auto& st = self->state;
  auto err = st.backend->check();
  auto text = err ? describe(err) : std::string{};
  if (text != st.check_error) {
    if (err)
      logger("store")->error("store-check-failed store={} error=\"{}\"",
                             st.backend->describe(), text);
    else
      logger("store")->info("store-check-passed store={}",
                            st.backend->describe());
    st.check_error = text;
  }
  if (!err)
    flush_samples(self);
  self->delayed_send(self, store_check_interval, caf::tick_atom::value);
}

} // namespace

caf::behavior store_actor(store_self* self, store_factory factory) {
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
  self->delayed_send(self, store_check_interval, caf::tick_atom::value);
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
    [self](atoms::record_atom, const std::string& server_id,
           const metrics_sample& sample) {
      auto& st = self->state;
      if (st.samples.size() >= max_buffered_samples) {
        st.samples.erase(st.samples.begin());
        if (st.dropped_samples++ % 1000 == 0)
          logger("store")->warn("metrics-samples-dropped total={} "
                                "reason=\"the store is not taking writes\"",
                                st.dropped_samples);
      }
      st.samples.push_back(worker_sample{server_id, sample});
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
    [self](caf::tick_atom) {
      check_store(self);
    },
    [self](caf::get_atom, atoms::check_atom) -> caf::result<caf::ok_atom> {
      auto& backend = *self->state.backend;
      if (!backend.checks_writes())
        return make_error(errc::unavailable,
                          "this store has no check; the next write tells");
      if (auto err = backend.check())
        return err;
      return caf::ok_atom::value;
    },
  };
}

} // namespace orchestrator
