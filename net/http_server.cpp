#include "net/http_server.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <list>
#include <mutex>
#include <optional>

namespace orchestrator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using executor = asio::strand<asio::io_context::executor_type>;
using plain_stream = asio::basic_stream_socket<tcp, executor>;
using tls_stream = ssl::stream<plain_stream>;

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

std::string detail_body(const std::string& text) {
  return nlohmann::json{{"detail", text}}.dump();
}

/// Writes the status line and header fields of `response`.
void write_head(std::string& out, const http_response& response,
                unsigned version, bool keep_alive) {
  auto status = static_cast<http::status>(response.status);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  auto reason = http::obsolete_reason(status);
  out.append(reason.data(), reason.size());
  out += "\r\nServer: stream-orchestrator\r\nContent-Type: ";
  out += response.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(response.body.size());
  if (!keep_alive)
    out += "\r\nConnection: close";
  else if (version == 10)
    out += "\r\nConnection: keep-alive";
  for (const auto& [name, value] : response.headers) {
    out += "\r\n";
    out += name;
    out += ": ";
    out += value;
  }
  out += "\r\n\r\n";
}

/// What a connection is waiting for, which decides what its deadline means.
enum class phase : std::uint8_t {
  handshake,
  /// Kept alive, waiting for the first byte of a request.
  idle,
  /// Between a request's first byte and its last.
  reading,
  /// The handler has the request.
  handling,
  writing,
};

struct server_state;

/// The part of a connection that the sweep reads and acts on.
class connection : public std::enable_shared_from_this<connection> {
public:
  virtual ~connection() = default;

  /// Acts on a deadline that passed; runs on the connection's strand.
  virtual void expire() = 0;
  virtual void shut() = 0;
  virtual const executor& strand() const = 0;

  std::atomic<std::int64_t> deadline_ms{0};
  std::list<std::weak_ptr<connection>>::iterator position;
};

/// State that every connection shares with the server.
struct server_state {
  request_handler handler;
  http_limits limits;
  std::mutex mutex;
  std::list<std::weak_ptr<connection>> connections;
  std::atomic<std::uint64_t> open{0};

  void add(const std::shared_ptr<connection>& c) {
    std::lock_guard<std::mutex> guard{mutex};
    c->position = connections.insert(connections.end(), c);
  }

  void remove(connection& c) {
    std::lock_guard<std::mutex> guard{mutex};
    connections.erase(c.position);
  }
};

/// One client connection over `Stream`: reads a request, hands it to the
/// handler, writes the response, and repeats while the client keeps the
/// connection alive. Every step runs on the connection's strand.
template <class Stream>
class session final : public connection {
public:
  template <class... Ts>
  session(std::shared_ptr<server_state> server, Ts&&... xs)
    : server_(std::move(server)),
      stream_(std::forward<Ts>(xs)...),
      buffer_(server_->limits.max_header_bytes + read_chunk) {
    server_->open.fetch_add(1);
  }

  ~session() override {
    server_->open.fetch_sub(1);
    server_->remove(*this);
  }

  void run() {
    asio::dispatch(strand(), [self = shared()] {
      if constexpr (std::is_same_v<Stream, tls_stream>) {
        self->set_deadline(self->server_->limits.read_timeout, phase::handshake);
        self->lowest().async_wait(tcp::socket::wait_read,
                                  [self](const beast::error_code& ec) {
                                    if (ec)
                                      self->shut();
                                    else
                                      self->start_handshake();
                                  });
      } else {
        self->next_request();
      }
    });
  }

  const executor& strand() const override {
    return executor_;
  }

  void expire() override {
    auto deadline = deadline_ms.load(std::memory_order_relaxed);
    if (closed_ || deadline == 0 || deadline > steady_now_ms())
      return;
    if (phase_ == phase::handling) {
      respond(request_id_, http_response::json(
                             504, detail_body("the orchestrator did not "
                                              "answer in time; retry later")));
      return;
    }
    // An idle kept-alive connection closing is routine; a slow one is not.
    if (phase_ != phase::idle)
      logger("net")->debug("connection-closed reason=slow phase={}",
                           static_cast<int>(phase_));
    shut();
  }

  void shut() override {
    if (closed_)
      return;
    closed_ = true;
    auto self = std::move(handling_);
    deadline_ms.store(0, std::memory_order_relaxed);
    beast::error_code ignored;
    auto& socket = lowest();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

private:
  static constexpr std::size_t read_chunk = 16 * 1024;

  std::shared_ptr<session> shared() {
    return std::static_pointer_cast<session>(shared_from_this());
  }

  plain_stream& lowest() {
    if constexpr (std::is_same_v<Stream, tls_stream>)
      return stream_.next_layer();
    else
      return stream_;
  }

  /// Starts the TLS handshake, or sends a readable 400 to a client that
  /// sent plain HTTP. A TLS connection starts with a handshake record (byte
  /// 0x16), and an HTTP request starts with an upper-case method name.
  void start_handshake() {
    unsigned char first = 0;
    beast::error_code ec;
    auto received = lowest().receive(asio::buffer(&first, 1),
                                     tcp::socket::message_peek, ec);
    if (ec || received == 0) {
      shut();
      return;
    }
    if (first >= 'A' && first <= 'Z') {
      reject_plain_http();
      return;
    }
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared()](const beast::error_code& error) {
                              if (error) {
                                self->shut();
                                return;
                              }
                              self->next_request();
                            });
  }

  void reject_plain_http() {
    logger("net")->info("connection-rejected reason=plain-http-on-https-port");
    auto response = http_response::json(
      400, detail_body("this port serves HTTPS only; send the request to "
                       "https:// instead of http://"));
    auto reply = std::make_shared<std::string>();
    write_head(*reply, response, 11, false);
    *reply += response.body;
    asio::async_write(lowest(), asio::buffer(*reply),
                      [self = shared(), reply](const beast::error_code&,
                                               std::size_t) { self->shut(); });
  }

  void set_deadline(std::chrono::milliseconds timeout, phase p) {
    phase_ = p;
    deadline_ms.store(steady_now_ms() + timeout.count(),
                      std::memory_order_relaxed);
  }

  void next_request() {
    head_only_ = false;
    parser_.emplace();
    parser_->eager(true);
    parser_->header_limit(server_->limits.max_header_bytes);
    parser_->body_limit(server_->limits.max_body_bytes);
    body_limit_ = server_->limits.max_body_bytes;
    header_checked_ = false;
    set_deadline(server_->limits.idle_timeout, phase::idle);
    parse();
  }

  /// Feeds buffered bytes to the parser; reads more when it needs them.
  void parse() {
    while (buffer_.size() > 0) {
      if (phase_ == phase::idle)
        set_deadline(server_->limits.read_timeout, phase::reading);
      beast::error_code ec;
      auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more)
        break;
      if (ec) {
        parse_failed(ec);
        return;
      }
      if (parser_->is_header_done() && !header_checked_ && !check_header())
        return;
      if (parser_->is_done()) {
        dispatch();
        return;
      }
      if (used == 0)
        break;
    }
    read();
  }

  void read() {
    std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) {
      reject(431, "request header fields exceed the limit of "
                    + std::to_string(server_->limits.max_header_bytes)
                    + " bytes");
      return;
    }
    stream_.async_read_some(
      buffer_.prepare(std::min(room, read_chunk)),
      [self = shared()](const beast::error_code& ec, std::size_t n) {
        self->buffer_.commit(n);
        if (ec) {
          self->shut();
          return;
        }
        self->parse();
      });
  }

  /// Applies the route's body limit and replies to `Expect: 100-continue`.
  /// Returns false when the request was rejected.
  bool check_header() {
    header_checked_ = true;
    const auto& head = parser_->get();
    if (server_->limits.body_limit) {
      auto method = head.method_string();
      auto target = head.target();
      body_limit_ = std::min(
        body_limit_, server_->limits.body_limit({method.data(), method.size()},
                                                {target.data(), target.size()}));
    }
    auto length = parser_->content_length();
    if (length && *length > body_limit_) {
      reject_body();
      return false;
    }
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      // The client waits for this before it sends the body.
      // NOTE: a blocking write of 25 bytes; with TLS it could wait for the
      // peer if OpenSSL needs to read first.
      static const std::string proceed = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::error_code ignored;
      asio::write(stream_, asio::buffer(proceed), ignored);
    }
    return true;
  }

  void reject_body() {
    reject(413, "request body exceeds the limit of "
                  + std::to_string(body_limit_)
                  + " bytes for this endpoint; send a smaller body, split it "
                    "into several requests, or raise the server's "
                    "--max-body-bytes (POST /streams) or "
                    "--max-worker-body-bytes (every other request)");
  }

  void parse_failed(const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
      reject_body();
      return;
    }
    if (ec == http::error::header_limit) {
      reject(431, "request header fields exceed the limit of "
                    + std::to_string(server_->limits.max_header_bytes)
                    + " bytes");
      return;
    }
    reject(400, "malformed HTTP request: " + ec.message());
  }

  void dispatch() {
    // A chunked body has no length up front: check what arrived.
    if (parser_->get().body().size() > body_limit_) {
      reject_body();
      return;
    }
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    // A HEAD request is handled as GET and its reply sent without the body,
    // for probes that use HEAD.
    head_only_ = request.method() == http::verb::head;

    http_request forwarded;
    forwarded.method = head_only_ ? std::string{"GET"}
                                  : std::string{request.method_string()};
    forwarded.target = std::string{request.target()};
    forwarded.body = std::move(request.body());
    forwarded.authorization = std::string{request[http::field::authorization]};

    auto id = ++request_id_;
    set_deadline(server_->limits.response_timeout, phase::handling);
    // The responder keeps only a weak reference, so that a lost responder
    // does not leak the connection; this keeps it alive meanwhile.
    handling_ = shared();

    std::weak_ptr<connection> weak = shared();
    auto strand = executor_;
    auto caller = std::this_thread::get_id();
    in_handler_.store(true, std::memory_order_release);
    responder reply = [weak, strand, id, caller](http_response response) {
      auto self = weak.lock();
      if (!self)
        return;
      auto* me = static_cast<session*>(self.get());
      // Called by the handler itself, so the reply skips the strand's queue.
      if (std::this_thread::get_id() == caller
          && me->in_handler_.load(std::memory_order_acquire)) {
        me->immediate_ = std::move(response);
        return;
      }
      asio::post(strand, [self = std::move(self), id,
                          response = std::move(response)]() mutable {
        static_cast<session*>(self.get())->respond(id, std::move(response));
      });
    };
    server_->handler(std::move(forwarded), std::move(reply));
    in_handler_.store(false, std::memory_order_release);
    if (immediate_) {
      auto response = std::move(*immediate_);
      immediate_.reset();
      respond(id, std::move(response));
    }
  }

  /// Writes the response of request `id`, unless one was already sent.
  void respond(std::uint64_t id, http_response response) {
    if (closed_ || id != request_id_ || answered_ == id)
      return;
    answered_ = id;
    auto self = std::move(handling_);
    write(std::move(response), keep_alive_);
  }

  /// Responds to a request that could not be read, then closes the
  /// connection, because the rest of the stream cannot be trusted.
  void reject(unsigned status, const std::string& text) {
    logger("net")->debug("request-rejected status={} reason=\"{}\"", status,
                         text);
    answered_ = request_id_;
    write(http_response::json(status, detail_body(text)), false);
  }

  void write(http_response response, bool keep_alive) {
    head_.clear();
    write_head(head_, response, version_, keep_alive);
    body_ = std::move(response.body);
    if (head_only_)
      body_.clear();
    set_deadline(server_->limits.read_timeout, phase::writing);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_),
                                              asio::buffer(body_)};
    asio::async_write(stream_, buffers,
                      [self = shared(), keep_alive](const beast::error_code& ec,
                                                    std::size_t) {
                        if (ec || !keep_alive) {
                          self->shut();
                          return;
                        }
                        self->next_request();
                      });
  }

  std::shared_ptr<server_state> server_;
  Stream stream_;
  executor executor_{stream_.get_executor()};
  beast::flat_buffer buffer_;
  boost::optional<http::request_parser<http::string_body>> parser_;
  std::uint64_t body_limit_ = 0;
  bool header_checked_ = false;
  phase phase_ = phase::idle;
  bool closed_ = false;
  std::uint64_t request_id_ = 0;
  std::uint64_t answered_ = 0;
  bool keep_alive_ = true;
  /// True while the current request is a HEAD.
  bool head_only_ = false;
  unsigned version_ = 11;
  std::atomic<bool> in_handler_{false};
  std::optional<http_response> immediate_;
  /// Set while the handler has the request.
  std::shared_ptr<connection> handling_;
  std::string head_;
  std::string body_;
};

} // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  std::shared_ptr<server_state> state = std::make_shared<server_state>();
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer retry_timer{acceptor.get_executor()};
  asio::steady_timer sweep_timer{acceptor.get_executor()};
  std::unique_ptr<ssl::context> tls;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  /// Connections rejected at the limit since the last log line. The
  /// acceptor's strand is the only user.
  std::uint64_t rejected_unlogged = 0;
  std::int64_t rejection_logged_ms = 0;

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [this](beast::error_code ec, plain_stream socket) {
                            on_accept(ec, std::move(socket));
                          });
  }

  void on_accept(beast::error_code ec, plain_stream socket) {
    if (ec == asio::error::operation_aborted || stopped)
      return;
    if (ec) {
      // Usually out of file descriptors: wait a little instead of spinning.
      logger("net")->warn("accept-failed error=\"{}\" retry_in_ms=100",
                          ec.message());
      retry_timer.expires_after(std::chrono::milliseconds{100});
      retry_timer.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec)
          accept();
      });
      return;
    }
    if (state->open.load() >= state->limits.max_connections)
      reject_connection(std::move(socket));
    else
      open(std::move(socket));
    accept();
  }

  /// Logs a warning for the first connection rejected at the limit, then
  /// at most one line per 10 s with the count since the last line, so a
  /// flood of connections cannot flood the log.
  void log_rejection() {
    ++rejected_unlogged;
    auto now = steady_now_ms();
    if (rejection_logged_ms != 0 && now - rejection_logged_ms < 10'000)
      return;
    logger("net")->warn("connections-rejected reason=max-connections count={} "
                        "limit={}; raise --max-connections if clients need "
                        "more connections",
                        rejected_unlogged, state->limits.max_connections);
    rejected_unlogged = 0;
    rejection_logged_ms = now;
  }

  /// Writes 503 on a connection past the limit, without waiting for the
  /// client, and closes it.
  void reject_connection(plain_stream socket) {
    log_rejection();
    http_response response = http_response::json(
      503, detail_body("the server has too many open connections; retry "
                       "later or reuse a kept-alive connection"));
    response.headers.emplace_back("Retry-After", "1");
    std::string out;
    write_head(out, response, 11, false);
    out += response.body;
    beast::error_code ignored;
    if (!tls) {
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(out), ignored);
    }
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  void open(plain_stream stream) {
    beast::error_code ignored;
    stream.set_option(tcp::no_delay{true}, ignored);
    if (tls) {
      auto c = std::make_shared<session<tls_stream>>(state, std::move(stream),
                                                     *tls);
      state->add(c);
      c->run();
    } else {
      auto c = std::make_shared<session<plain_stream>>(state, std::move(stream));
      state->add(c);
      c->run();
    }
  }

  /// Checks every connection's deadline a few times per shortest timeout.
  void sweep() {
    const auto& l = state->limits;
    auto shortest = std::min({l.idle_timeout, l.read_timeout, l.response_timeout});
    auto period = std::clamp(shortest / 8, std::chrono::milliseconds{10},
                             std::chrono::milliseconds{250});
    sweep_timer.expires_after(period);
    sweep_timer.async_wait([this](beast::error_code ec) {
      if (ec || stopped)
        return;
      auto now = steady_now_ms();
      // Collected first and acted on after the lock: dropping the last
      // reference to a connection removes it from the list.
      std::vector<std::shared_ptr<connection>> alive;
      {
        std::lock_guard<std::mutex> guard{state->mutex};
        alive.reserve(state->connections.size());
        for (auto& weak : state->connections)
          if (auto c = weak.lock())
            alive.push_back(std::move(c));
      }
      for (auto& c : alive) {
        auto deadline = c->deadline_ms.load(std::memory_order_relaxed);
        if (deadline != 0 && deadline <= now)
          asio::post(c->strand(), [c] { c->expire(); });
      }
      sweep();
    });
  }
};

http_server::http_server(request_handler handler, http_limits limits)
  : impl_(std::make_shared<impl>()) {
  impl_->state->handler = std::move(handler);
  impl_->state->limits = std::move(limits);
}

http_server::~http_server() {
  stop();
}

caf::expected<void> http_server::use_tls(const tls_files& files) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds
                       | ssl::context::no_sslv2 | ssl::context::no_sslv3
                       | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  beast::error_code ec;
  context->use_certificate_chain_file(files.certificate, ec);
  if (ec)
    return make_error(errc::invalid_request,
                      "cannot use the TLS certificate '" + files.certificate
                        + "': " + ec.message()
                        + "; give a PEM certificate chain");
  context->use_private_key_file(files.private_key, ssl::context::pem, ec);
  if (ec)
    return make_error(errc::invalid_request,
                      "cannot use the TLS key '" + files.private_key
                        + "': " + ec.message()
                        + "; give the PEM private key of the certificate");
  impl_->tls = std::move(context);
  return caf::unit;
}

caf::expected<std::uint16_t> http_server::listen(const std::string& host,
                                                 std::uint16_t port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    return make_error(errc::invalid_request,
                      "invalid listen host '" + host
                        + "': expected an IPv4 or IPv6 address");
  tcp::endpoint endpoint{address, port};
  auto& acceptor = impl_->acceptor;
  auto fail = [&](const char* step) {
    return make_error(errc::invalid_request,
                      std::string{"cannot listen on "} + host + ":"
                        + std::to_string(port) + " (" + step
                        + "): " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec)
    return fail("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec)
    return fail("set_option");
  acceptor.bind(endpoint, ec);
  if (ec)
    return fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail("listen");
  return acceptor.local_endpoint().port();
}

void http_server::start(std::size_t threads) {
  asio::dispatch(impl_->acceptor.get_executor(), [this] {
    impl_->accept();
    impl_->sweep();
  });
  for (std::size_t i = 0; i < threads; ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void http_server::stop() {
  if (impl_->stopped.exchange(true))
    return;
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->retry_timer.cancel();
    impl_->sweep_timer.cancel();
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
  impl_->threads.clear();
}

} // namespace orchestrator
