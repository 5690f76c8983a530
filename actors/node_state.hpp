#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

namespace orchestrator {

/// This server's role among servers sharing one database, and whether its
/// store is reachable. The store sets both, and the HTTP layer reads them
/// without asking an actor. Thread-safe.
class node_state {
public:
  enum class role : int {
    /// Another server holds the database's leader lock; this one waits.
    standby,
    /// This server holds the lock and serves workers.
    leader,
    /// This server held the lock and lost it; it stops serving and exits.
    deposed,
  };

  role current() const {
    return role_.load(std::memory_order_acquire);
  }

  bool leading() const {
    return current() == role::leader;
  }

  /// Records the address of the server that leads while this one waits.
  void follow(std::string leader_address) {
    std::lock_guard<std::mutex> guard{mutex_};
    leader_address_ = std::move(leader_address);
  }

  void lead() {
    role_.store(role::leader, std::memory_order_release);
  }

  /// Marks the lock as lost and calls the handler given to on_deposed, once.
  void depose(const std::string& why) {
    std::function<void(const std::string&)> handler;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      if (role_.exchange(role::deposed) == role::deposed)
        return;
      handler = on_deposed_;
    }
    if (handler)
      handler(why);
  }

  void on_deposed(std::function<void(const std::string&)> handler) {
    std::lock_guard<std::mutex> guard{mutex_};
    on_deposed_ = std::move(handler);
  }

  /// Returns the leader's address as it advertised it, or "" when unknown.
  std::string leader_address() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return leader_address_;
  }

  /// Returns "standby", "leader" or "deposed".
  const char* role_name() const {
    switch (current()) {
      case role::standby:
        return "standby";
      case role::leader:
        return "leader";
      case role::deposed:
        return "deposed";
    }
    return "unknown";
  }

  /// Records why the store cannot be reached, or "" once it can again. The
  /// store's periodic check sets it, so /ready notices a lost database
  /// before the next write fails.
  void set_store_error(std::string error) {
    std::lock_guard<std::mutex> guard{mutex_};
    store_error_ = std::move(error);
  }

  std::string store_error() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return store_error_;
  }

private:
  std::atomic<role> role_{role::standby};
  mutable std::mutex mutex_;
  std::string leader_address_;
  std::string store_error_;
  std::function<void(const std::string&)> on_deposed_;
};

} // namespace orchestrator
