// Fuzz target: the first byte picks an endpoint's body decoder and the limits
// it runs with. The rest is the request body, parsed as the API parses it.
// A decoder must return either a value or a list of errors, and never throw.
// Decoded values must be within the documented ranges, and a heartbeat read
// straight from the text must equal the one decoded from the JSON tree.

#include "net/json_codec.hpp"
#include "tests/support/heartbeat_compare.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace orchestrator;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_json_decode: %s\n", what.c_str());
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition)
    fail(what);
}

/// Checks the shape every decoder result must have, and that its 422 body
/// serializes.
template <class T>
void check_result(const decoded<T>& result, const char* decoder) {
  if (result.value.has_value() == !result.errors.empty())
    fail(std::string{decoder} + " returned "
         + (result ? "a value and errors" : "neither a value nor errors"));
  for (const auto& error : result.errors)
    if (error.loc.empty() || error.msg.empty() || error.type.empty())
      fail(std::string{decoder} + " returned an error without loc, msg or type");
  validation_body(result.errors).dump();
}

void check_registration(const registration& r, const decode_limits& limits) {
  require(valid_server_id(r.server_id), "registration with an invalid server_id");
  require(r.port >= 1, "registration with port 0");
  require(r.max_streams <= limits.max_streams_limit,
          "registration above max_streams_limit");
}

void check_api_registration(const api_registration& r, std::uint32_t max_capacity) {
  require(valid_server_id(r.request.server_id),
          "/api registration with an invalid id");
  require(r.request.max_streams <= max_capacity,
          "/api registration above the capacity cap");
  require(r.capped == (r.requested_capacity > max_capacity),
          "/api registration capped flag disagrees with the capacity");
}

void check_ids(const std::vector<std::int64_t>& ids, const decode_limits& limits,
               const char* what) {
  require(ids.size() <= limits.max_ids_per_request, what);
}

/// Parses `body` as the route does and runs decoder `selector` on it.
void decode_with(unsigned selector, std::string_view body,
                 const decode_limits& limits, std::uint32_t max_capacity,
                 std::size_t max_streams) {
  // POST /streams accepts any JSON value; every other route wants an object.
  if (selector == 5) {
    auto parsed = parse_json(body);
    check_result(parsed, "parse_json");
    if (!parsed)
      return;
    auto rows = decode_streams(*parsed.value, max_streams);
    check_result(rows, "decode_streams");
    if (rows)
      require(rows.value->size() <= max_streams, "more streams than allowed");
    return;
  }

  // A heartbeat read from the text must match what the full path reads.
  std::optional<heartbeat_request> direct;
  if (selector == 1)
    direct = decode_heartbeat_text(body, limits);

  auto parsed = parse_object(body);
  check_result(parsed, "parse_object");
  if (!parsed) {
    require(!direct, "decode_heartbeat_text took a body parse_object rejects");
    return;
  }
  const auto& object = *parsed.value;
  require(object.is_object(), "parse_object returned a non-object");

  switch (selector) {
    case 0: {
      auto r = decode_registration(object, limits);
      check_result(r, "decode_registration");
      if (r)
        check_registration(*r.value, limits);
      break;
    }
    case 1: {
      auto r = decode_heartbeat(object, limits);
      check_result(r, "decode_heartbeat");
      if (direct) {
        require(r.value.has_value(), "decode_heartbeat_text took a body "
                                     "decode_heartbeat rejects");
        if (auto field = test::heartbeat_difference(*direct, *r.value))
          fail("decode_heartbeat_text and decode_heartbeat differ in " + *field);
      }
      if (r) {
        require(valid_server_id(r.value->beat.server_id),
                "heartbeat with an invalid server_id");
        check_ids(r.value->beat.stream_ids, limits, "heartbeat lists too many ids");
      }
      break;
    }
    case 2: {
      auto r = decode_assign(object, limits);
      check_result(r, "decode_assign");
      if (r)
        require(r.value->requested_count >= 1
                  && r.value->requested_count <= limits.max_streams_limit,
                "assign count out of range");
      break;
    }
    case 3: {
      auto r = decode_release(object, limits);
      check_result(r, "decode_release");
      if (r) {
        check_ids(r.value->stream_ids, limits, "release lists too many ids");
        for (const auto& lease : r.value->epochs)
          require(lease.epoch >= 1, "release with an epoch below 1");
      }
      break;
    }
    case 4: {
      auto r = decode_diagnostic(object, limits);
      check_result(r, "decode_diagnostic");
      if (r)
        check_ids(r.value->local_streams, limits, "diagnostic lists too many ids");
      break;
    }
    case 6: {
      auto r = decode_api_registration(object, limits, max_capacity);
      check_result(r, "decode_api_registration");
      if (r)
        check_api_registration(*r.value, max_capacity);
      break;
    }
    case 7: {
      auto r = decode_api_heartbeat(object, limits, max_capacity);
      check_result(r, "decode_api_heartbeat");
      if (r) {
        check_api_registration(r.value->registration, max_capacity);
        require(r.value->beat.server_id == r.value->registration.request.server_id,
                "/api heartbeat names two workers");
      }
      break;
    }
    case 8: {
      auto r = decode_api_stream_update(object);
      check_result(r, "decode_api_stream_update");
      if (r)
        require(r.value->stream_id >= 0, "stream update with a negative id");
      break;
    }
    default: {
      auto r = decode_stream(object, {"body"});
      check_result(r, "decode_stream");
      if (r) {
        require(r.value->id >= 1 && !r.value->url.empty(), "invalid stream row");
        require(nlohmann::json::parse(r.value->metadata, nullptr, false).is_object(),
                "stream metadata is not a JSON object");
      }
      break;
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  // Low four bits: the decoder. Bit 4: small limits, so that the list and
  // range limits are reached with short inputs. The stream limit stays at
  // the assign default of 20, because the server never sets it lower.
  unsigned selector = (data[0] & 0x0f) % 10;
  bool small = (data[0] & 0x10) != 0;
  decode_limits limits;
  std::uint32_t max_capacity = 100000;
  std::size_t max_streams = 100000;
  if (small) {
    limits = decode_limits{2, 20, 3};
    max_capacity = 4;
    max_streams = 3;
  }
  std::string_view body{reinterpret_cast<const char*>(data + 1), size - 1};
  decode_with(selector, body, limits, max_capacity, max_streams);
  return 0;
}
