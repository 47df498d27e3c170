#include "apps/sweep/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "linalg/error.hpp"

extern char** environ;

namespace convdyn::apps::sweep {

namespace fs = std::filesystem;

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto colon = p.find(':', start);
    const std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    const auto cand = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(cand.c_str(), X_OK) == 0) return cand.string();
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

std::string self_executable() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  CONVDYN_CHECK(!ec, IoError, "cannot find the convdyn executable (/proc/self/exe: {})", ec.message());
  return p.string();
}

namespace {
std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}
}  // namespace

Captured run_captured(const std::vector<std::string>& argv) {
  int fds[2];
  CONVDYN_CHECK(::pipe(fds) == 0, IoError, "{}: cannot create a pipe ({})", argv.at(0), std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  auto args = c_argv(argv);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv.at(0).c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw IoError(fmt::format("{}: cannot run ({})", argv.at(0), std::strerror(rc)));
  }
  Captured c;
  char buf[4096];
  ssize_t got;
  while ((got = ::read(fds[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR))
    if (got > 0) c.out.append(buf, static_cast<std::size_t>(got));
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.code = exit_status(status);
  return c;
}

pid_t spawn(const std::vector<std::string>& argv) {
  auto args = c_argv(argv);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv.at(0).c_str(), nullptr, nullptr, args.data(), environ);
  CONVDYN_CHECK(rc == 0, IoError, "{}: cannot run ({})", argv.at(0), std::strerror(rc));
  return pid;
}

std::pair<pid_t, int> wait_any() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, 0)) < 0 && errno == EINTR) {
  }
  CONVDYN_CHECK(pid > 0, IoError, "waiting for worker processes: {}", std::strerror(errno));
  return {pid, exit_status(status)};
}

}  // namespace convdyn::apps::sweep
