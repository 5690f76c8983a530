#pragma once

#include "modules/store/sqlite_store.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace orchestrator::testing {

/// Switches that a test flips to make a fault_store misbehave.
struct store_faults {
  std::atomic<bool> fail_commits{false};
  std::atomic<int> commits{0};
  std::atomic<int> load_delay_ms{0};
};

/// A real SQLite store whose commits can be made to fail on demand: the one
/// fault a test cannot cause for real without filling a disk.
class fault_store final : public store {
public:
  fault_store(std::unique_ptr<sqlite_store> inner,
              std::shared_ptr<store_faults> faults)
    : inner_(std::move(inner)), faults_(std::move(faults)) {
  }

  std::string describe() const override {
    return inner_->describe();
  }

  caf::expected<store_snapshot> load() override {
    std::this_thread::sleep_for(
      std::chrono::milliseconds{faults_->load_delay_ms.load()});
    return inner_->load();
  }

  caf::error commit(const std::vector<change>& changes) override {
    ++faults_->commits;
    if (faults_->fail_commits)
      return make_error(errc::store_unavailable, "injected write failure");
    return inner_->commit(changes);
  }

private:
  std::unique_ptr<sqlite_store> inner_;
  std::shared_ptr<store_faults> faults_;
};

} // namespace orchestrator::testing
