#pragma once

// Decoding of request bodies with FastAPI-compatible validation errors, and
// encoding of replies in the wire contract's JSON shapes.

#include "actors/types.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orchestrator {

using json = nlohmann::json;

/// One validation failure, rendered as FastAPI renders it:
/// {"loc": ["body", "port"], "msg": "...", "type": "type_error.integer"}.
struct field_error {
  std::vector<std::string> loc;
  std::string msg;
  std::string type;
};

/// A decoded value, or the list of everything wrong with the input.
template <class T>
struct decoded {
  std::optional<T> value;
  std::vector<field_error> errors;

  explicit operator bool() const {
    return value.has_value();
  }
};

/// Returns the 422 body for `errors`: {"detail": [...]}.
json validation_body(const std::vector<field_error>& errors);

/// Deepest nesting of arrays and objects a request body may have. Deeper
/// documents are rejected before parsing, because copying and destroying
/// them recurses once per level and could exhaust the stack.
inline constexpr int max_json_depth = 64;

/// The error type of a body with a key repeated within one object. The API
/// responds to it with 400 instead of 422.
inline constexpr const char* duplicate_key_error = "value_error.jsondecode.duplicate_key";

/// Parses `text` as JSON of at most max_json_depth levels, in which no
/// object has a key twice.
decoded<json> parse_json(std::string_view text);

/// Parses `text` as a JSON object, reporting a syntax error, too deep a
/// nesting or a non-object.
decoded<json> parse_object(std::string_view text);

/// Returns true if `text` is well-formed UTF-8: no overlong forms, no
/// surrogates and nothing above U+10FFFF.
bool valid_utf8(std::string_view text);

/// Parses a stream id written as decimal digits: 1 to 2^63-1, without a
/// sign, spaces or leading zeros.
std::optional<std::int64_t> parse_stream_id(std::string_view text);

/// Returns true if `id` is usable as a worker id: 1 to 128 printable ASCII
/// characters without spaces or '/'.
bool valid_server_id(std::string_view id);

/// Limits and defaults that decoding applies.
struct decode_limits {
  std::uint32_t default_max_streams = 20;
  std::uint32_t max_streams_limit = 100000;
  std::size_t max_ids_per_request = 100000;
};

decoded<registration> decode_registration(const json& body,
                                          const decode_limits& limits);

/// A worker's registration through POST /api/workers/register, or the
/// registration implied by an /api heartbeat from an unknown worker.
struct api_registration {
  registration request;
  /// The capacity the worker asked for, before the cap.
  std::int64_t requested_capacity = 0;
  bool capped = false;
};

decoded<api_registration> decode_api_registration(const json& body,
                                                  const decode_limits& limits,
                                                  std::uint32_t max_capacity);

/// POST /api/heartbeat: the heartbeat, its optional metrics, and the
/// registration to make when the worker is unknown.
struct api_heartbeat {
  heartbeat beat;
  std::optional<metrics_sample> metrics;
  api_registration registration;
};

decoded<api_heartbeat> decode_api_heartbeat(const json& body,
                                            const decode_limits& limits,
                                            std::uint32_t max_capacity);

/// POST /api/streams/update.
struct api_stream_update {
  std::string server_id;
  std::int64_t stream_id = 0;
  std::string status;
  /// True for completed, failed and cancelled: the worker lets go.
  bool ends = false;
};

decoded<api_stream_update> decode_api_stream_update(const json& body);

/// The statuses a stream update may carry. The first three end the worker's
/// ownership; the others only report progress.
inline constexpr const char* api_stream_statuses[]
  = {"completed", "failed", "cancelled", "processing", "running", "started",
     "pending"};

/// A heartbeat and the optional system metrics it carries.
struct heartbeat_request {
  heartbeat beat;
  std::optional<metrics_sample> metrics;
};

decoded<heartbeat_request> decode_heartbeat(const json& body,
                                            const decode_limits& limits = {});

/// Decodes a heartbeat body straight from its text, without a JSON tree.
/// Returns nothing for a body it does not take: one that is invalid, has a
/// repeated key or a nested value under an unknown key, or writes an
/// integer as 5.0. Every body it takes decodes to the same request through
/// parse_object and decode_heartbeat; for the others, that path gives the
/// request or the errors.
std::optional<heartbeat_request> decode_heartbeat_text(std::string_view text,
                                                       const decode_limits& limits = {});
decoded<assign_request> decode_assign(const json& body,
                                      const decode_limits& limits);
decoded<release_request> decode_release(const json& body,
                                        const decode_limits& limits);

struct diagnostic_request {
  std::string server_id;
  std::vector<std::int64_t> local_streams;
  std::int64_t local_stream_count = 0;
};

decoded<diagnostic_request> decode_diagnostic(const json& body,
                                              const decode_limits& limits);

/// Decodes one catalogue entry: `id` and `url` are required, `name` and a
/// `metadata` object are optional, and any other key joins the metadata.
/// `loc` prefixes the location of errors.
decoded<stream_row> decode_stream(const json& item,
                                  std::vector<std::string> loc);

/// Decodes a POST /streams body: one stream object, an array of them, or
/// {"streams": [...]}.
decoded<std::vector<stream_row>> decode_streams(const json& body,
                                                std::size_t max_items);

// -- encoding -----------------------------------------------------------------

/// Formats milliseconds since the epoch as ISO 8601 in UTC with "+00:00".
std::string iso_time(std::int64_t wall_ms);

json to_json(const std::vector<stream_lease>& leases);
json to_json(const metrics_sample& sample);
json instance_json(const worker_view& view);
json stream_json(const stream_view& view);

} // namespace orchestrator
