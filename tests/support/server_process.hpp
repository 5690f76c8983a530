#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace orchestrator::testing {

/// The real orchestrator binary, started as a child process on a free
/// loopback port with its log in a file.
class server_process {
public:
  /// Starts the server with `args` (plus --listen 127.0.0.1:0 unless `args`
  /// has a --listen) and waits until it logs its listening port. Each of
  /// `environment` ("NAME=value") is set in the server's environment, for
  /// example its tokens. Throws std::runtime_error if it exits or stays
  /// silent for ten seconds.
  server_process(std::vector<std::string> args, std::string log_path,
                 std::vector<std::string> environment = {});
  ~server_process();

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  std::uint16_t port() const {
    return port_;
  }

  /// Returns the process id, or -1 once stopped, for signals such as
  /// SIGSTOP and for reading /proc.
  pid_t pid() const {
    return pid_;
  }

  /// Sends `signal` and waits for the process to end; returns its exit
  /// status as waitpid reports it.
  int stop(int signal);

  /// Returns the log written so far.
  std::string log() const;

private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

/// Returns the path of the orchestrator binary under test.
std::string orchestrator_binary();

/// Runs the orchestrator binary with `args` to completion and returns its
/// exit code (-1 if a signal ended it) and its output. `environment`, when
/// not empty, goes to env(1) first, such as "-u NAME" or "NAME=value".
std::pair<int, std::string> run_to_exit(const std::string& args,
                                        const std::string& environment = "");

} // namespace orchestrator::testing
