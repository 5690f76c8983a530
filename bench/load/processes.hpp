#pragma once

// Child processes for benchmarks: the orchestrator under test and the
// nginx ceiling, each started on a loopback port and stopped by its PID.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace orchestrator::bench {

/// A process started with fork and exec, with stdout and stderr appended to
/// a log file. The destructor kills it with SIGKILL if it still runs.
class child_process {
public:
  child_process(std::vector<std::string> argv, const std::string& log_path);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const {
    return pid_;
  }

  /// True while the process has not exited.
  bool running();

  /// Sends `signal`, waits for the exit and returns the waitpid status.
  int stop(int signal);

private:
  pid_t pid_ = -1;
};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_loopback_port();

/// Resident set size of `pid` in KiB (VmRSS in /proc/PID/status), 0 if
/// unknown.
std::uint64_t rss_kib(pid_t pid);

/// CPU seconds (user and system) that `pid` has used, from /proc/PID/stat.
double process_cpu_seconds_of(pid_t pid);

/// The orchestrator binary started on 127.0.0.1 with a free port.
class orchestrator_server {
public:
  /// Starts `binary` with `args` plus --listen 127.0.0.1:0 and waits until
  /// it logs its port and GET /ready returns 200. Throws
  /// std::runtime_error, with the log's tail, if that takes more than
  /// `timeout_s`.
  orchestrator_server(const std::string& binary, std::vector<std::string> args,
                      const std::string& log_path, double timeout_s = 120);

  std::uint16_t port() const {
    return port_;
  }

  pid_t pid() const {
    return process_.pid();
  }

  /// Seconds from fork to the first 200 from GET /ready.
  double startup_s() const {
    return startup_s_;
  }

  int stop(int signal) {
    return process_.stop(signal);
  }

private:
  child_process process_;
  std::uint16_t port_ = 0;
  double startup_s_ = 0;
};

/// nginx on a loopback port, returning fixed JSON bodies for every path.
class nginx_server {
public:
  /// A path prefix and the body nginx returns for it with status 200.
  struct route {
    std::string prefix;
    std::string body;
  };

  /// Writes a configuration into `dir` and starts nginx in the foreground
  /// with `workers` worker processes. Throws std::runtime_error if nginx is
  /// missing or does not accept connections within ten seconds.
  nginx_server(const std::string& dir, const std::vector<route>& routes,
               unsigned workers);
  ~nginx_server();

  std::uint16_t port() const {
    return port_;
  }

  /// CPU seconds used so far by the master and its worker processes.
  double cpu_seconds() const;

private:
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> process_;
};

/// Full path of the nginx binary, or empty if none is installed.
std::string find_nginx();

} // namespace orchestrator::bench
