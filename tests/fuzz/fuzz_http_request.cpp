// Fuzz target: raw bytes as an HTTP/1.1 request, read by Beast's parser with
// the server's body and header limits, then handled by the real API object
// (routing, percent-decoding, query parsing, body decoding and validation).
//
// The API's actor bridge has no gateway, so a request that passes
// validation is sent nowhere and gets no response. Every response that does
// come back must be well formed.

#include "net/api.hpp"
#include "net/http_server.hpp"
#include "net/router.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace http = boost::beast::http;
using namespace orchestrator;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_http_request: %s\n", what.c_str());
  std::abort();
}

/// Reads one request from `bytes` as http_server's session does. Returns
/// false when the parser rejects the bytes or needs more of them.
bool parse_request(std::string_view bytes, const http_limits& limits,
                   http_request& out) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(limits.max_body_bytes);
  parser.header_limit(limits.max_header_bytes);
  parser.eager(true);

  boost::beast::error_code ec;
  auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec || used > bytes.size())
    return false;
  if (!parser.is_done()) {
    // The peer closing the connection ends a body without Content-Length.
    parser.put_eof(ec);
    if (ec || !parser.is_done())
      return false;
  }

  auto request = parser.release();
  out.method = std::string{request.method_string()};
  out.target = std::string{request.target()};
  out.authorization = std::string{request[http::field::authorization]};
  out.body = std::move(request.body());
  return true;
}

/// Checks the invariants of every response the API sends.
void check_response(const http_request& request, const http_response& response) {
  if (response.status < 100 || response.status > 599)
    fail("status " + std::to_string(response.status) + " for "
         + request.method + " " + request.target);
  if (response.content_type != "application/json")
    return;
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded())
    fail("response body is not JSON for " + request.method + " "
         + request.target);
  // Every rejection explains to the client what was wrong.
  if (response.status >= 400 && response.status < 500 && !body.contains("detail"))
    fail("client error " + std::to_string(response.status)
         + " without detail for " + request.method + " " + request.target);
}

/// Decodes the path and query directly, so that a failure points at the
/// decoder rather than at a route.
void check_decoders(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  if (auto decoded = percent_decode(path, false); decoded && decoded->size() > path.size())
    fail("percent-decoding made the path longer");
  if (auto segments = split_path(path))
    for (const auto& segment : *segments)
      if (segment.empty())
        fail("split_path returned an empty segment");
}

/// Built once each, because the routes never change and the bridge has no
/// state: one API without tokens and one that requires them.
const api& shared_api(bool with_tokens) {
  auto make = [](auth_tokens tokens) {
    api_settings settings;
    settings.tokens = std::move(tokens);
    return std::make_unique<api>(
      actor_bridge{caf::actor{}, std::chrono::milliseconds{100}}, settings);
  };
  static const auto open = make(auth_tokens{});
  static const auto guarded = make(auth_tokens{"fuzz-worker", "fuzz-admin"});
  return with_tokens ? *guarded : *open;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  http_request request;
  if (!parse_request(bytes, http_limits{}, request))
    return 0;

  check_decoders(request.target);

  for (bool with_tokens : {false, true}) {
    int responses = 0;
    auto copy = request;
    shared_api(with_tokens).handle(copy, [&copy, &responses](http_response response) {
      ++responses;
      check_response(copy, response);
    });
    if (responses > 1)
      fail("more than one response for " + copy.method + " " + copy.target);
  }
  return 0;
}
