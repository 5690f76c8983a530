#pragma once

// The start of an HTTP/1.1 reply as the load client reads it: status,
// header and body sizes, and whether the connection stays open.

#include <cstddef>
#include <string>

namespace orchestrator::bench {

/// Largest reply body the client accepts, in bytes.
inline constexpr std::size_t max_reply_bytes = 64u << 20;

/// Status, sizes and connection header from the start of a reply.
struct reply_head {
  unsigned status = 0;
  std::size_t header_bytes = 0;
  std::size_t body_bytes = 0;
  bool keep_alive = true;
  bool valid = false;
};

/// Parses the status line and headers in `data`, whose head ends at
/// `end_of_head` (the offset of the blank line's "\r\n\r\n"). Only
/// Content-Length framing is understood: both servers the bench talks to
/// send it for these replies. A reply without it comes back not valid.
reply_head parse_head(const std::string& data, std::size_t end_of_head);

} // namespace orchestrator::bench
