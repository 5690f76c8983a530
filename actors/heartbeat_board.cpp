#include "actors/heartbeat_board.hpp"

#include <algorithm>
#include <functional>

namespace orchestrator {

lease_snapshot make_lease_snapshot(const std::vector<stream_lease>& leases) {
  lease_snapshot result;
  result.ids.reserve(leases.size());
  result.json.reserve(2 + leases.size() * 32);
  result.json += '[';
  for (const auto& lease : leases) {
    if (result.json.size() > 1)
      result.json += ',';
    // Keys in the order nlohmann::json writes them, so both paths agree.
    result.json += "{\"epoch\":";
    result.json += std::to_string(lease.epoch);
    result.json += ",\"stream_id\":";
    result.json += std::to_string(lease.stream_id);
    result.json += '}';
    result.ids.push_back(lease.stream_id);
  }
  result.json += ']';
  std::sort(result.ids.begin(), result.ids.end());
  return result;
}

heartbeat_board::shard& heartbeat_board::shard_of(const std::string& server_id) {
  return shards_[std::hash<std::string>{}(server_id) % shard_count];
}

std::shared_ptr<heartbeat_board::slot>
heartbeat_board::find(const std::string& server_id) {
  auto& s = shard_of(server_id);
  std::shared_lock<std::shared_mutex> guard{s.mutex};
  auto i = s.slots.find(server_id);
  return i == s.slots.end() ? nullptr : i->second;
}

std::shared_ptr<const lease_snapshot>
heartbeat_board::record(const std::string& server_id, fast_beat beat) {
  auto target = find(server_id);
  if (!target)
    return nullptr;
  std::lock_guard<std::mutex> guard{target->mutex};
  if (!target->open || target->beats.size() >= max_pending)
    return nullptr;
  target->beats.push_back(std::move(beat));
  if (!target->listed) {
    target->listed = true;
    std::lock_guard<std::mutex> list_guard{dirty_mutex_};
    dirty_.push_back(target);
    dirty_count_.fetch_add(1, std::memory_order_release);
  }
  return target->leases;
}

void heartbeat_board::open(const std::string& server_id,
                           std::shared_ptr<const lease_snapshot> leases) {
  auto target = find(server_id);
  if (!target) {
    auto& s = shard_of(server_id);
    std::unique_lock<std::shared_mutex> guard{s.mutex};
    auto& entry = s.slots[server_id];
    if (!entry)
      entry = std::make_shared<slot>(server_id);
    target = entry;
  }
  std::lock_guard<std::mutex> guard{target->mutex};
  target->leases = std::move(leases);
  target->open = true;
}

std::vector<fast_beat> heartbeat_board::close(const std::string& server_id) {
  auto target = find(server_id);
  if (!target)
    return {};
  std::lock_guard<std::mutex> guard{target->mutex};
  target->open = false;
  target->leases.reset();
  return std::exchange(target->beats, {});
}

void heartbeat_board::erase(const std::string& server_id) {
  auto& s = shard_of(server_id);
  std::shared_ptr<slot> removed;
  {
    std::unique_lock<std::shared_mutex> guard{s.mutex};
    auto i = s.slots.find(server_id);
    if (i == s.slots.end())
      return;
    removed = std::move(i->second);
    s.slots.erase(i);
  }
  // A request may still hold the slot: make sure it answers nothing more.
  std::lock_guard<std::mutex> guard{removed->mutex};
  removed->open = false;
  removed->leases.reset();
  removed->beats.clear();
}

std::vector<std::pair<std::string, std::vector<fast_beat>>>
heartbeat_board::collect() {
  std::vector<std::shared_ptr<slot>> listed;
  {
    std::lock_guard<std::mutex> guard{dirty_mutex_};
    listed.swap(dirty_);
    dirty_count_.store(0, std::memory_order_release);
  }
  std::vector<std::pair<std::string, std::vector<fast_beat>>> result;
  result.reserve(listed.size());
  for (auto& target : listed) {
    std::lock_guard<std::mutex> guard{target->mutex};
    target->listed = false;
    if (!target->beats.empty())
      result.emplace_back(target->server_id, std::exchange(target->beats, {}));
  }
  return result;
}

void heartbeat_board::clear() {
  for (auto& s : shards_) {
    std::unique_lock<std::shared_mutex> guard{s.mutex};
    for (auto& [id, target] : s.slots) {
      std::lock_guard<std::mutex> slot_guard{target->mutex};
      target->open = false;
      target->leases.reset();
      target->beats.clear();
    }
    s.slots.clear();
  }
  std::lock_guard<std::mutex> guard{dirty_mutex_};
  dirty_.clear();
  dirty_count_.store(0, std::memory_order_release);
}

} // namespace orchestrator
