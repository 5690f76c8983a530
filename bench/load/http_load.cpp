#include "bench/load/http_load.hpp"
#include "bench/load/reply_head.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/verb.hpp>

#include <strings.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace orchestrator::bench {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

struct queued {
  clock_type::time_point scheduled;
  request_spec spec;
};

double seconds(clock_type::duration d) {
  return std::chrono::duration<double>(d).count();
}

clock_type::duration from_seconds(double s) {
  return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

constexpr auto reconnect_delay = std::chrono::milliseconds{20};
constexpr auto timeout_sweep = std::chrono::milliseconds{50};

} // namespace

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto to_s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return to_s(usage.ru_utime) + to_s(usage.ru_stime);
}

/// The connections, schedule and records of one client thread. Every
/// member is touched only from that thread's io_context, except the
/// progress counters.
class client_thread {
public:
  client_thread(const load_options& options, std::size_t index,
                std::unique_ptr<workload> work, clock_type::time_point start)
    : options_(options),
      work_(std::move(work)),
      endpoint_(asio::ip::make_address(options.host), options.port),
      timer_(io_),
      end_timer_(io_),
      start_(start),
      record_from_(start + from_seconds(options.warmup_s)),
      end_(record_from_ + from_seconds(options.duration_s)) {
    auto threads = options.threads;
    auto share = [&](std::uint64_t total) {
      return total / threads + (index < total % threads ? 1 : 0);
    };
    std::size_t connection_count = std::max<std::size_t>(1, share(options.connections));
    for (std::size_t k = 0; k < connection_count; ++k)
      connections_.push_back(std::make_unique<connection>(io_));
    max_requests_ = options.max_requests == 0 ? 0 : share(options.max_requests);
    if (options.rate > 0) {
      interval_ = from_seconds(static_cast<double>(threads) / options.rate);
      // Threads take turns, so the combined schedule stays evenly spaced.
      next_slot_ = start_ + from_seconds(static_cast<double>(index) / options.rate);
      samples_expected_ = static_cast<std::size_t>(options.rate / threads
                                                   * options.duration_s * 1.05);
    }
    result_.samples.reserve(std::min<std::size_t>(samples_expected_ + 1024, 50'000'000));
  }

  void run() {
    for (auto& c : connections_)
      connect(*c);
    timer_.expires_at(start_);
    timer_.async_wait([this](error_code ec) {
      if (ec)
        return;
      started_ = true;
      if (options_.rate > 0) {
        tick();
      } else {
        for (auto& c : connections_)
          if (c->connected && !c->busy)
            next_closed_loop(*c);
      }
    });
    arm_end_timer(end_);
    sweep_timeouts();
    io_.run();
    result_.recorded_s = std::max(0.0, seconds(std::min(end_, stopped_at_) - record_from_));
  }

  /// Posts a stop to the io_context thread; callable from any thread.
  void stop() {
    asio::post(io_, [this] {
      auto now = clock_type::now();
      stopped_at_ = now;
      if (now < end_)
        end_ = now;
      arm_end_timer(now);
    });
  }

  load_progress progress() const {
    return {sent_.load(std::memory_order_relaxed), ok_.load(std::memory_order_relaxed),
            failed_.load(std::memory_order_relaxed), 0};
  }

  load_result take_result() {
    return std::move(result_);
  }

private:
  /// A keep-alive connection. Requests are written as ready bytes and
  /// replies parsed by hand, because Beast's serializer and parser took
  /// half of the client's CPU time, and the client shares the machine
  /// with the servers it measures.
  struct connection {
    explicit connection(asio::io_context& io) : socket(io), retry(io) {}
    tcp::socket socket;
    asio::steady_timer retry;
    std::string out;
    std::string in;
    std::size_t filled = 0;
    queued current;
    clock_type::time_point sent;
    bool busy = false;
    bool connected = false;
    bool timed_out = false;
  };

  bool in_window(clock_type::time_point t) const {
    return t >= record_from_ && t < end_;
  }

  bool may_generate() const {
    return generating_ && (max_requests_ == 0 || generated_ < max_requests_);
  }

  void count_error(const std::string& kind, clock_type::time_point at) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    if (in_window(at) || options_.warmup_s == 0)
      ++result_.errors[kind];
  }

  /// Stops generating at `at`; requests already queued or in flight get
  /// the request timeout to finish, then the run ends regardless.
  void arm_end_timer(clock_type::time_point at) {
    end_timer_.expires_at(at);
    end_timer_.async_wait([this](error_code ec) {
      if (ec)
        return;
      generating_ = false;
      maybe_finish();
      if (finished_)
        return;
      end_timer_.expires_after(from_seconds(options_.request_timeout_s));
      end_timer_.async_wait([this](error_code ec2) {
        if (!ec2)
          finish();
      });
    });
  }

  void connect(connection& c) {
    c.timed_out = false;
    c.socket.async_connect(endpoint_, [this, &c](error_code ec) {
      if (ec) {
        error_code ignored;
        c.socket.close(ignored);
        count_error("connect", clock_type::now());
        retry_later(c);
        return;
      }
      c.socket.set_option(tcp::no_delay{true});
      c.connected = true;
      c.filled = 0;
      if (finished_)
        return;
      if (options_.rate > 0) {
        idle_.push_back(&c);
        pump();
      } else if (started_) {
        next_closed_loop(c);
      }
    });
  }

  /// Closes the connections whose request is older than the timeout; the
  /// read then fails and is counted as a timeout.
  void sweep_timeouts() {
    sweep_.expires_after(timeout_sweep);
    sweep_.async_wait([this](error_code ec) {
      if (ec || finished_)
        return;
      auto limit = clock_type::now() - from_seconds(options_.request_timeout_s);
      for (auto& c : connections_)
        if (c->busy && !c->timed_out && c->sent < limit) {
          c->timed_out = true;
          error_code ignored;
          c->socket.close(ignored);
        }
      sweep_timeouts();
    });
  }

  void retry_later(connection& c) {
    if (finished_ || clock_type::now() >= end_) {
      maybe_finish();
      return;
    }
    c.retry.expires_after(reconnect_delay);
    c.retry.async_wait([this, &c](error_code ec) {
      if (!ec && !finished_)
        connect(c);
    });
  }

  /// Fills the backlog with every slot that is due, then arms the timer
  /// for the next one.
  void tick() {
    auto now = clock_type::now();
    while (generating_ && next_slot_ <= now) {
      if (next_slot_ >= end_ || !may_generate()) {
        generating_ = false;
        break;
      }
      if (auto spec = work_->next()) {
        backlog_.push_back({next_slot_, std::move(*spec)});
        ++generated_;
      }
      next_slot_ += interval_;
    }
    pump();
    if (!generating_) {
      maybe_finish();
      return;
    }
    timer_.expires_at(next_slot_);
    timer_.async_wait([this](error_code ec) {
      if (!ec)
        tick();
    });
  }

  void pump() {
    while (!backlog_.empty() && !idle_.empty()) {
      auto* c = idle_.back();
      idle_.pop_back();
      if (!c->connected || c->busy)
        continue;
      auto item = std::move(backlog_.front());
      backlog_.pop_front();
      send(*c, std::move(item));
    }
  }

  /// As fast as possible: a connection sends its next request as soon as
  /// the previous reply is in.
  void next_closed_loop(connection& c) {
    auto now = clock_type::now();
    if (!may_generate() || now >= end_) {
      generating_ = false;
      maybe_finish();
      return;
    }
    auto spec = work_->next();
    if (!spec) {
      generating_ = false;
      maybe_finish();
      return;
    }
    ++generated_;
    send(c, {now, std::move(*spec)});
  }

  void send(connection& c, queued item) {
    c.busy = true;
    ++busy_;
    c.current = std::move(item);
    const auto& spec = c.current.spec;
    c.out.clear();
    auto method = http::to_string(spec.method);
    c.out.append(method.data(), method.size()).append(" ").append(spec.target);
    c.out.append(" HTTP/1.1\r\nHost: ").append(options_.host).append("\r\n");
    if (!spec.body.empty())
      c.out.append("Content-Type: application/json\r\n");
    const auto& authorization = spec.admin ? options_.admin_authorization
                                           : options_.authorization;
    if (!authorization.empty())
      c.out.append("Authorization: ").append(authorization).append("\r\n");
    c.out.append("Content-Length: ").append(std::to_string(spec.body.size()));
    c.out.append("\r\n\r\n").append(spec.body);
    c.sent = clock_type::now();
    c.filled = 0;
    sent_.fetch_add(1, std::memory_order_relaxed);
    ++result_.sent;
    asio::async_write(c.socket, asio::buffer(c.out), [this, &c](error_code ec, std::size_t) {
      if (ec) {
        fail(c, "write", ec);
        return;
      }
      read_more(c);
    });
  }

  void read_more(connection& c) {
    if (c.in.size() < c.filled + 16384)
      c.in.resize(c.filled + 65536);
    c.socket.async_read_some(
      asio::buffer(&c.in[c.filled], c.in.size() - c.filled),
      [this, &c](error_code ec, std::size_t n) {
        if (ec) {
          fail(c, "read", ec);
          return;
        }
        c.filled += n;
        auto data = std::string_view{c.in.data(), c.filled};
        auto end_of_head = data.find("\r\n\r\n");
        if (end_of_head == std::string_view::npos) {
          read_more(c);
          return;
        }
        auto head = parse_head(c.in.substr(0, end_of_head + 4), end_of_head);
        if (!head.valid) {
          fail(c, "bad_reply", {});
          return;
        }
        if (c.filled < head.header_bytes + head.body_bytes) {
          read_more(c);
          return;
        }
        on_read(c, head);
      });
  }

  void on_read(connection& c, const reply_head& head) {
    auto now = clock_type::now();
    auto status = head.status;
    bool ok = status >= 200 && status < 300;
    ++result_.replies;

    auto& scheduled = c.current.scheduled;
    if (in_window(scheduled) || options_.warmup_s == 0) {
      result_.samples.push_back(
        {static_cast<float>(seconds(scheduled - record_from_)),
         static_cast<float>(seconds(now - record_from_)),
         static_cast<float>(seconds(now - scheduled) * 1000.0), c.current.spec.kind, ok});
    }
    if (ok)
      ok_.fetch_add(1, std::memory_order_relaxed);
    else
      count_error("http_" + std::to_string(status), scheduled);

    body_.assign(c.in, head.header_bytes, head.body_bytes);
    // One request is in flight per connection, so nothing follows the body.
    c.filled = 0;
    work_->on_reply(c.current.spec, status, body_, c.sent);
    c.busy = false;
    --busy_;

    if (!head.keep_alive) {
      close(c);
      if (!finished_)
        connect(c);
      maybe_finish();
      return;
    }
    if (options_.rate > 0) {
      idle_.push_back(&c);
      pump();
      maybe_finish();
    } else {
      next_closed_loop(c);
    }
  }

  void fail(connection& c, const char* step, error_code) {
    // Requests cut off by the end of the run are counted apart from
    // failures the server caused.
    std::string kind = step;
    if (finished_)
      kind = "no_reply_at_end";
    else if (c.timed_out)
      kind = "timeout";
    count_error(kind, c.current.scheduled);
    work_->on_failure(c.current.spec);
    c.busy = false;
    --busy_;
    close(c);
    retry_later(c);
  }

  void close(connection& c) {
    error_code ignored;
    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
    c.connected = false;
    c.timed_out = false;
  }

  void maybe_finish() {
    if (!finished_ && !generating_ && started_ && backlog_.empty() && busy_ == 0)
      finish();
  }

  /// Ends the run: whatever is still queued counts as unsent, and closing
  /// the sockets ends the reads still waiting.
  void finish() {
    if (finished_)
      return;
    finished_ = true;
    generating_ = false;
    for (auto& item : backlog_) {
      count_error("unsent", item.scheduled);
      work_->on_failure(item.spec);
    }
    backlog_.clear();
    timer_.cancel();
    end_timer_.cancel();
    sweep_.cancel();
    for (auto& c : connections_) {
      c->retry.cancel();
      if (c->connected || c->busy)
        close(*c);
    }
  }

  const load_options& options_;
  std::unique_ptr<workload> work_;
  asio::io_context io_{1};
  tcp::endpoint endpoint_;
  asio::steady_timer timer_;
  asio::steady_timer end_timer_;
  asio::steady_timer sweep_{io_};
  std::string body_;
  std::vector<std::unique_ptr<connection>> connections_;
  std::vector<connection*> idle_;
  std::deque<queued> backlog_;
  clock_type::time_point start_;
  clock_type::time_point record_from_;
  clock_type::time_point end_;
  clock_type::time_point stopped_at_ = clock_type::time_point::max();
  clock_type::time_point next_slot_;
  clock_type::duration interval_{};
  std::uint64_t max_requests_ = 0;
  std::uint64_t generated_ = 0;
  std::size_t busy_ = 0;
  std::size_t samples_expected_ = 1'000'000;
  bool started_ = false;
  bool generating_ = true;
  bool finished_ = false;
  load_result result_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
};

load_run::load_run(load_options options, workload_factory factory)
  : options_(std::move(options)), factory_(std::move(factory)) {
  options_.threads = std::max<std::size_t>(1, options_.threads);
}

load_run::~load_run() {
  if (!threads_.empty()) {
    stop();
    wait();
  }
}

void load_run::start() {
  started_ = clock_type::now();
  cpu_at_start_ = process_cpu_seconds();
  // The connections open during the lead time, before the first slot.
  auto start = started_ + from_seconds(options_.lead_s);
  for (std::size_t k = 0; k < options_.threads; ++k)
    clients_.push_back(std::make_unique<client_thread>(
      options_, k, factory_(k, options_.threads), start));
  running_ = clients_.size();
  for (auto& client : clients_)
    threads_.emplace_back([this, c = client.get()] {
      c->run();
      --running_;
    });
}

bool load_run::finished() const {
  return running_ == 0;
}

load_progress load_run::progress() const {
  load_progress total;
  for (const auto& client : clients_) {
    auto p = client->progress();
    total.sent += p.sent;
    total.ok += p.ok;
    total.failed += p.failed;
  }
  total.elapsed_s = seconds(clock_type::now() - started_);
  return total;
}

void load_run::stop() {
  for (auto& client : clients_)
    client->stop();
}

load_result load_run::wait() {
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  load_result total;
  total.client_cpu_s = process_cpu_seconds() - cpu_at_start_;
  for (auto& client : clients_) {
    auto part = client->take_result();
    total.samples.insert(total.samples.end(), part.samples.begin(), part.samples.end());
    for (const auto& [kind, count] : part.errors)
      total.errors[kind] += count;
    total.sent += part.sent;
    total.replies += part.replies;
    total.recorded_s = std::max(total.recorded_s, part.recorded_s);
  }
  clients_.clear();
  return total;
}

void watch(const load_run& run, const std::string& label, clock_type::time_point until) {
  std::uint64_t last_ok = 0;
  double last_s = 0;
  while (!run.finished() && clock_type::now() < until) {
    for (int k = 0; k < 20 && !run.finished() && clock_type::now() < until; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    if (label.empty() || run.finished())
      continue;
    auto p = run.progress();
    double rate = p.elapsed_s > last_s ? (p.ok - last_ok) / (p.elapsed_s - last_s) : 0;
    std::fprintf(stderr, "%s %6.1f s  sent %10llu  ok %8.0f/s  failed %llu\n", label.c_str(),
                 p.elapsed_s, static_cast<unsigned long long>(p.sent), rate,
                 static_cast<unsigned long long>(p.failed));
    last_ok = p.ok;
    last_s = p.elapsed_s;
  }
}

load_result run_load(const load_options& options, const workload_factory& factory,
                     const std::string& label) {
  load_run run{options, factory};
  run.start();
  watch(run, label, clock_type::time_point::max());
  return run.wait();
}

} // namespace orchestrator::bench
