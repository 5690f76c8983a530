#include "tests/support/server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace orchestrator::testing {

std::string orchestrator_binary() {
  return ORCHESTRATOR_BINARY;
}

server_process::server_process(std::vector<std::string> args,
                               std::string log_path,
                               std::vector<std::string> environment)
  : log_path_(std::move(log_path)) {
  if (std::find(args.begin(), args.end(), "--listen") == args.end())
    args.insert(args.begin(), {"--listen", "127.0.0.1:0"});
  args.insert(args.begin(), orchestrator_binary());
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);

  // Appending keeps the log of earlier runs with the same path.
  auto fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open log file " + log_path_);
  auto offset = ::lseek(fd, 0, SEEK_END);
  pid_ = ::fork();
  if (pid_ == 0) {
    // A test or benchmark that dies (an abort, a crash) must not leave its
    // server running.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    for (auto& variable : environment)
      ::putenv(variable.data());
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  // The line ends in HOST:PORT, or [V6]:PORT; the port follows the last
  // colon of the line.
  const std::string marker = "http-listening address=";
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = log().substr(static_cast<std::size_t>(offset));
    auto at = text.find(marker);
    auto line_end = at == std::string::npos ? at : text.find('\n', at);
    if (line_end != std::string::npos) {
      auto line = text.substr(at, line_end - at);
      port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the orchestrator exited at start-up:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  throw std::runtime_error("the orchestrator did not start listening within "
                           "10 s:\n" + log());
}

server_process::~server_process() {
  if (pid_ > 0)
    stop(SIGKILL);
}

int server_process::stop(int signal) {
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::pair<int, std::string> run_to_exit(const std::string& args,
                                        const std::string& environment) {
  auto command = (environment.empty() ? "" : "env " + environment + " ")
                 + orchestrator_binary() + " " + args + " 2>&1";
  auto* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr)
    throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[512];
  while (auto n = std::fread(buffer, 1, sizeof(buffer), pipe))
    output.append(buffer, n);
  auto status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string server_process::log() const {
  std::ifstream in{log_path_};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace orchestrator::testing
