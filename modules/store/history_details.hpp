#pragma once

#include "actors/types.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace orchestrator {

/// Returns the moves and affected workers of `report` as the JSON text both
/// stores keep in the rebalance history's details column, as their number
/// varies.
inline std::string encode_history_details(const rebalance_report& report) {
  auto moves = nlohmann::json::array();
  for (const auto& m : report.moves)
    moves.push_back({{"stream_id", m.stream_id}, {"from", m.from}, {"to", m.to},
                     {"epoch", m.epoch}});
  return nlohmann::json{{"moves", moves},
                        {"workers_affected", report.workers_affected}}
    .dump();
}

/// Reads what encode_history_details wrote into `report`; text that is not
/// such an object adds nothing.
inline void decode_history_details(const std::string& text, rebalance_report& report) {
  auto details = nlohmann::json::parse(text, nullptr, false);
  if (!details.is_object())
    return;
  for (const auto& m : details.value("moves", nlohmann::json::array()))
    report.moves.push_back(stream_move{m.value("stream_id", std::int64_t{0}),
                                       m.value("from", std::string{}),
                                       m.value("to", std::string{}),
                                       m.value("epoch", std::uint64_t{0})});
  for (const auto& w : details.value("workers_affected", nlohmann::json::array()))
    if (w.is_string())
      report.workers_affected.push_back(w.get<std::string>());
}

} // namespace orchestrator
