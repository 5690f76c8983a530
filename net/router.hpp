#pragma once

#include "net/auth.hpp"
#include "net/http_server.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orchestrator {

/// A request after routing: path parameters and query parameters decoded.
struct routed_request {
  http_request raw;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;

  /// Returns the query parameter `key`, if present.
  std::optional<std::string> query_value(const std::string& key) const;
};

using route_handler = std::function<void(routed_request, responder)>;

/// Runs after routing and before the handler, with the access level of the
/// matched route (worker for a path that matches none). Returns true when
/// it has responded, and the handler is then skipped.
using route_guard = std::function<bool(const http_request&, access_level,
                                       const responder&)>;

/// Receives every response the router sends: the method, the matched route
/// pattern ("unmatched" when none matched), the status and the seconds from
/// dispatch to response.
using route_observer = std::function<void(const std::string& method,
                                          const std::string& route,
                                          unsigned status, double seconds)>;

/// Maps a method and a path pattern such as "/instances/{}/metrics" to a
/// handler. "{}" matches one non-empty path segment and becomes a parameter.
/// A path that matches a pattern under another method gets 405 with Allow;
/// one that matches nothing gets 404. Path segments and query parameters
/// must be valid UTF-8 without control characters after percent-decoding,
/// and a query parameter may appear once; anything else gets 400.
class router {
public:
  /// Adds a route that needs the worker token.
  void add(std::string method, std::string_view pattern, route_handler handler);

  /// Sets the access level of the route added as `method` and `pattern`.
  /// Returns false when there is no such route.
  bool set_access(std::string_view method, std::string_view pattern,
                  access_level level);

  void set_guard(route_guard guard) {
    guard_ = std::move(guard);
  }

  void dispatch(http_request request, responder respond) const;

  void set_observer(route_observer observer) {
    observer_ = std::move(observer);
  }

private:
  struct route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    route_handler handler;
    access_level access = access_level::worker;
  };

  /// Wraps `respond` so that the observer receives each response.
  responder observed(const std::string& method, const std::string& pattern,
                     responder respond) const;

  std::vector<route> routes_;
  route_observer observer_;
  route_guard guard_;
};

/// Splits a path into percent-decoded segments; empty segments are dropped.
/// Returns nothing if a percent escape is malformed.
std::optional<std::vector<std::string>> split_path(std::string_view path);

/// Decodes a query string into `query`. Returns the reason it is rejected:
/// a malformed escape, text that is not printable UTF-8, or a repeated
/// parameter.
std::optional<std::string> parse_query(std::string_view text,
                                       std::map<std::string, std::string>& query);

/// Decodes %XX escapes, and '+' as a space when `plus_is_space`.
std::optional<std::string> percent_decode(std::string_view text,
                                          bool plus_is_space);

} // namespace orchestrator
