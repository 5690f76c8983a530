#include "net/router.hpp"

#include "net/json_codec.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace orchestrator {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

http_response detail_response(unsigned status, const std::string& text) {
  return http_response::json(status, nlohmann::json{{"detail", text}}.dump());
}

/// True for text that is valid UTF-8 and has no control characters, the
/// rule for decoded path segments and query parameters.
bool printable_utf8(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f)
      return false;
  return valid_utf8(text);
}

} // namespace

std::optional<std::string> routed_request::query_value(const std::string& key) const {
  auto i = query.find(key);
  if (i == query.end())
    return std::nullopt;
  return i->second;
}

std::optional<std::string> percent_decode(std::string_view text,
                                          bool plus_is_space) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      auto high = hex_value(text[i + 1]);
      auto low = hex_value(text[i + 2]);
      if (high < 0 || low < 0)
        return std::nullopt;
      result += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      result += ' ';
    } else {
      result += text[i];
    }
  }
  return result;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    if (end > start) {
      auto segment = percent_decode(path.substr(start, end - start), false);
      if (!segment)
        return std::nullopt;
      segments.push_back(std::move(*segment));
    }
    start = end + 1;
  }
  return segments;
}

void router::add(std::string method, std::string_view pattern,
                 route_handler handler) {
  auto segments = split_path(pattern);
  routes_.push_back(route{std::move(method), std::string{pattern},
                          std::move(*segments), std::move(handler)});
}

bool router::set_access(std::string_view method, std::string_view pattern,
                        access_level level) {
  bool found = false;
  for (auto& r : routes_)
    if (r.method == method && r.pattern == pattern) {
      r.access = level;
      found = true;
    }
  return found;
}

responder router::observed(const std::string& method, const std::string& pattern,
                           responder respond) const {
  if (!observer_)
    return respond;
  auto started = std::chrono::steady_clock::now();
  return [observer = observer_, method, pattern, started,
          respond = std::move(respond)](http_response response) {
    observer(method, pattern, response.status,
             std::chrono::duration<double>(std::chrono::steady_clock::now()
                                           - started)
               .count());
    respond(std::move(response));
  };
}

void router::dispatch(http_request request, responder respond) const {
  std::string_view target = request.target;
  auto question = target.find('?');
  auto path = target.substr(0, question);
  auto segments = split_path(path);
  if (!segments) {
    observed(request.method, "unmatched", std::move(respond))(
      detail_response(400, "malformed percent escape in the path"));
    return;
  }
  for (const auto& segment : *segments)
    if (!printable_utf8(segment)) {
      observed(request.method, "unmatched", std::move(respond))(
        detail_response(400, "the path is not valid UTF-8 or contains control "
                             "characters; percent-encode UTF-8 text"));
      return;
    }

  std::map<std::string, std::string> query;
  if (question != std::string_view::npos) {
    if (auto problem = parse_query(target.substr(question + 1), query)) {
      observed(request.method, "unmatched", std::move(respond))(
        detail_response(400, *problem));
      return;
    }
  }

  const route* matched = nullptr;
  std::vector<std::string> params;
  std::string allowed;
  for (const auto& r : routes_) {
    if (r.segments.size() != segments->size())
      continue;
    params.clear();
    bool match = true;
    for (std::size_t k = 0; match && k < r.segments.size(); ++k) {
      if (r.segments[k] == "{}")
        params.push_back((*segments)[k]);
      else
        match = r.segments[k] == (*segments)[k];
    }
    if (!match)
      continue;
    if (r.method != request.method) {
      allowed += (allowed.empty() ? "" : ", ") + r.method;
      continue;
    }
    matched = &r;
    break;
  }

  // Unknown paths are counted under one label, so that scanners cannot
  // create a metric series per path.
  respond = observed(request.method, matched != nullptr ? matched->pattern
                                                        : "unmatched",
                     std::move(respond));
  // A path that matches no route needs the worker token too, so that a
  // stranger cannot map the routes from 404 and 405 replies.
  auto level = matched != nullptr ? matched->access : access_level::worker;
  if (guard_ && guard_(request, level, respond))
    return;

  if (matched != nullptr) {
    matched->handler(routed_request{std::move(request), std::move(params),
                                    std::move(query)},
                     std::move(respond));
    return;
  }
  if (!allowed.empty()) {
    auto response = detail_response(405, "Method Not Allowed; use " + allowed);
    response.headers.emplace_back("Allow", allowed);
    respond(std::move(response));
    return;
  }
  respond(detail_response(404, "Not Found"));
}

std::optional<std::string> parse_query(std::string_view text,
                                       std::map<std::string, std::string>& query) {
  while (!text.empty()) {
    auto amp = text.find('&');
    auto pair = text.substr(0, amp);
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = eq == std::string_view::npos
                   ? std::optional<std::string>{""}
                   : percent_decode(pair.substr(eq + 1), true);
    if (!key || !value)
      return "malformed percent escape in the query";
    if (!printable_utf8(*key) || !printable_utf8(*value))
      return "a query parameter is not valid UTF-8 or contains control "
             "characters; percent-encode UTF-8 text";
    if (!key->empty() && !query.emplace(*key, *value).second)
      return "query parameter '" + *key + "' appears more than once; send "
             "it once";
    text = amp == std::string_view::npos ? std::string_view{}
                                         : text.substr(amp + 1);
  }
  return std::nullopt;
}

} // namespace orchestrator
