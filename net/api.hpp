#pragma once

#include "actors/heartbeat_board.hpp"
#include "actors/node_state.hpp"
#include "net/actor_bridge.hpp"
#include "net/json_codec.hpp"
#include "net/router.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace orchestrator {

struct api_settings {
  decode_limits limits;
  /// Most catalogue entries one POST /streams may carry.
  std::size_t max_streams_per_request = 100000;
  /// Name of the store backend shown in /health, such as "sqlite".
  std::string store_backend = "sqlite";
  /// This server's role among servers sharing a database. Null means it
  /// always leads, as with SQLite.
  std::shared_ptr<const node_state> node;
  /// Largest capacity a worker may claim; larger claims are capped.
  std::uint32_t max_capacity = 100000;
  /// The board that replies to heartbeats that change nothing, without the
  /// coordinator. Null sends every heartbeat to the coordinator.
  std::shared_ptr<heartbeat_board> board;
  /// Requests waiting for the actors at once. Past half of it, listing and
  /// admin requests get 503; past three quarters, other worker requests
  /// too; heartbeats only past all of it.
  std::size_t max_pending = 4096;
  /// Bearer tokens; with none, every request passes.
  auth_tokens tokens;
  /// Serve GET /metrics without a token, for scrapers that send none.
  bool metrics_public = false;
};

/// The HTTP API of the orchestrator. It decodes and validates each request,
/// sends it to the actors through the bridge and encodes the reply in the
/// wire contract's shapes. It never blocks, and every failure becomes an
/// HTTP error.
class api {
public:
  api(actor_bridge bridge, api_settings config);

  /// Handles one request; usable as the http_server's request handler.
  void handle(http_request request, responder respond) const;

private:
  void add_worker_routes();
  void add_listing_routes();
  void add_health_routes();
  void add_admin_routes();
  void add_catalog_routes();
  void add_metrics_routes();
  void add_resilience_routes();
  void add_generation_two_routes();
  /// Sets the token each route needs and checks it before any handler.
  void protect_routes();
  /// Responds for a server that does not lead. Returns false when the
  /// request goes on to the routes.
  bool answer_as_follower(const http_request& request,
                          const responder& respond) const;

  /// Streams /api workers reported finished since this server started.
  struct stream_outcomes {
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> cancelled{0};
  };

  /// Admits a request by its priority. Returns false after replying 503.
  bool admit(const http_request& request, responder& respond) const;
  /// Counts a request as waiting for the actors until `respond` is gone.
  void hold(responder& respond) const;

  actor_bridge bridge_;
  api_settings config_;
  std::shared_ptr<stream_outcomes> outcomes_;
  /// Requests admitted and still waiting for their reply.
  std::shared_ptr<std::atomic<std::size_t>> pending_;
  std::int64_t started_ms_;
  router router_;
};

/// Maps an actor error to its HTTP response: 404 for an unknown worker or
/// stream, 409 for a stale epoch, 503 with Retry-After when the store or an
/// actor is unavailable or timed out.
http_response error_response(const caf::error& err);

} // namespace orchestrator
