#include "bench/load/reply_head.hpp"

#include <strings.h>

#include <cstdlib>
#include <cstring>

namespace orchestrator::bench {

namespace {

/// Case-insensitive search for `name` at the start of a header line.
std::size_t find_header(const std::string& head, const char* name) {
  auto length = std::strlen(name);
  for (std::size_t at = head.find("\r\n"); at != std::string::npos;
       at = head.find("\r\n", at + 2)) {
    if (head.size() - (at + 2) >= length
        && strncasecmp(head.data() + at + 2, name, length) == 0)
      return at + 2 + length;
  }
  return std::string::npos;
}

} // namespace

reply_head parse_head(const std::string& data, std::size_t end_of_head) {
  reply_head head;
  head.header_bytes = end_of_head + 4;
  auto text = data.substr(0, end_of_head);
  if (text.size() < 12 || text.compare(0, 5, "HTTP/") != 0)
    return head;
  head.status = static_cast<unsigned>(std::atoi(text.c_str() + 9));
  auto length_at = find_header(text, "content-length:");
  if (length_at == std::string::npos)
    return head;
  head.body_bytes = std::strtoull(text.c_str() + length_at, nullptr, 10);
  auto connection_at = find_header(text, "connection:");
  if (connection_at != std::string::npos) {
    auto value = text.substr(connection_at, text.find("\r\n", connection_at) - connection_at);
    head.keep_alive = value.find("close") == std::string::npos
                      && value.find("Close") == std::string::npos;
  }
  head.valid = head.status >= 100 && head.body_bytes <= max_reply_bytes;
  return head;
}

} // namespace orchestrator::bench
