#include "analysis/temporary_files.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "linalg/error.hpp"

namespace convdyn::analysis {

namespace {

// The signal handler's registry: fixed slots, since a handler may not allocate or lock. A slot is free (0),
// being written (2) or holding a path (1).
constexpr int kSlots = 32;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
std::array<Slot, kSlots> g_slots;
std::mutex g_register;  // between register/unregister calls only (never taken by the handler)

extern "C" void remove_and_reraise(int sig) {
  for (auto& s : g_slots)
    if (s.state.load() == 1) ::unlink(s.path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h(buf);
  return h.substr(0, h.find('.'));
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::string temporary_path(const std::string& target) {
  const std::filesystem::path p(target);
  const auto dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  return (dir / fmt::format(".{}.tmp-{}-{}", p.filename().string(), host_name(), ::getpid())).string();
}

void register_temporary(const std::string& path) {
  if (path.size() >= kPathMax) return;
  const std::lock_guard<std::mutex> lock(g_register);
  for (auto& s : g_slots) {
    int free = 0;
    if (s.state.compare_exchange_strong(free, 2)) {
      std::memcpy(s.path, path.c_str(), path.size() + 1);
      s.state.store(1);
      return;
    }
  }
}

void unregister_temporary(const std::string& path) {
  const std::lock_guard<std::mutex> lock(g_register);
  for (auto& s : g_slots)
    if (s.state.load() == 1 && path == s.path) {
      s.state.store(0);
      return;
    }
}

void remove_temporaries_on_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = remove_and_reraise;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGINT, SIGTERM}) {
      struct sigaction old {};
      // A signal ignored at startup (nohup, a shell's background job) stays ignored, as for any program.
      if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
      ::sigaction(sig, &sa, nullptr);
    }
  });
}

std::vector<std::string> remove_stale_temporaries(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path p(target);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = "." + p.filename().string() + ".tmp-";
  const std::string host = host_name();
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "<host>-<pid>", or "<pid>" (older versions)
    const auto dash = rest.rfind('-');
    const std::string pid_s = dash == std::string::npos ? rest : rest.substr(dash + 1);
    const std::string from = dash == std::string::npos ? host : rest.substr(0, dash);
    if (from != host || !all_digits(pid_s) || pid_s.size() > 9) continue;
    const auto pid = static_cast<pid_t>(std::stol(pid_s));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge (EPERM)
    std::error_code rm;
    if (fs::remove(it->path(), rm)) removed.push_back(it->path().string());
  }
  return removed;
}

ReplacingFile::ReplacingFile(std::string target) : target_(std::move(target)), tmp_(temporary_path(target_)) {
  register_temporary(tmp_);
}

ReplacingFile::~ReplacingFile() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
  unregister_temporary(tmp_);
}

void ReplacingFile::commit() {
  std::error_code ec;
  std::filesystem::rename(tmp_, target_, ec);
  CONVDYN_CHECK(!ec, IoError, "{}: cannot rename the finished file into place ({})", target_, ec.message());
  unregister_temporary(tmp_);
  committed_ = true;
}

}  // namespace convdyn::analysis
