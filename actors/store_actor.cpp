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

/// Deletes one batch of expired samples and, while batches find some,
/// schedules the next one behind the messages already queued.
void retain_step(store_self* self) {
  auto& st = self->state;
  auto deleted = st.backend->delete_samples_before(st.retention_cutoff_ms,
                                                   retention_batch);
  if (!deleted) {
    logger("store")->warn("metrics-retention-failed deleted={} error=\"{}\"",
                          st.retention_deleted, describe(deleted.error()));
    st.retaining = false;
    return;
  }
  if (*deleted > 0) {
    st.retention_deleted += *deleted;
    self->send(self, atoms::prune_atom::value);
    return;
  }
  st.retaining = false;
  if (st.retention_deleted > 0)
    logger("store")->info("metrics-samples-expired deleted={} retention_hours={}",
                          st.retention_deleted,
                          std::chrono::duration<double, std::ratio<3600>>(
                            st.metrics_retention)
                            .count());
}

/// Starts a retention run if one is due.
void start_retention(store_self* self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  if (st.metrics_retention.count() == 0 || st.retaining || now < st.next_retention)
    return;
  st.next_retention = now + retention_interval;
  st.retaining = true;
  st.retention_deleted = 0;
  st.retention_cutoff_ms = now_instant().wall_ms - st.metrics_retention.count();
  retain_step(self);
}

/// Returns the samples of `server_id` that are still buffered, newest
/// first, within the bounds of a history request.
std::vector<metrics_sample> buffered_samples(const store_state& st,
                                             const std::string& server_id,
                                             std::int64_t since_ms) {
  std::vector<metrics_sample> result;
  for (auto i = st.samples.rbegin(); i != st.samples.rend(); ++i)
    if (i->server_id == server_id && i->sample.recorded_at_ms >= since_ms)
      result.push_back(i->sample);
  return result;
}

/// Checks the connection, logging only when its state changes, and flushes
/// the samples and runs the retention while it works.
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
  if (!err) {
    flush_samples(self);
    start_retention(self);
  }
  self->delayed_send(self, store_check_interval, caf::tick_atom::value);
}

} // namespace

caf::behavior store_actor(store_self* self, store_factory factory,
                          std::chrono::milliseconds metrics_retention) {
  self->state.metrics_retention = metrics_retention;
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
  // A stopping server writes the samples of its last second, so that they
  // are in the history after a restart.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    flush_samples(self);
    self->quit(msg.reason);
  });
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
    [self](caf::get_atom, atoms::samples_atom, const std::string& server_id,
           std::int64_t since_ms,
           std::uint64_t limit) -> caf::result<std::vector<metrics_sample>> {
      // Samples of heartbeats acknowledged before this request are at
      // least in the buffer, so writing the buffer first puts them in the
      // reply.
      flush_samples(self);
      auto stored = self->state.backend->load_samples(server_id, since_ms,
                                                      static_cast<std::size_t>(limit));
      if (!stored) {
        logger("store")->warn("metrics-history-read-failed worker={} error=\"{}\"",
                              server_id, describe(stored.error()));
        return stored.error();
      }
      // A failed flush leaves them buffered. They arrived after every
      // stored sample, so they go in front.
      auto result = buffered_samples(self->state, server_id, since_ms);
      if (result.empty())
        return std::move(*stored);
      result.insert(result.end(), stored->begin(), stored->end());
      if (result.size() > limit)
        result.resize(static_cast<std::size_t>(limit));
      return result;
    },
    [self](atoms::prune_atom) {
      if (self->state.retaining)
        retain_step(self);
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
