#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "fixture_path.hpp"
#include "analysis/temporary_files.hpp"

using namespace convdyn::analysis;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const char* name) { return convdyn::testing::fresh_out_dir(name); }

void touch(const fs::path& p) { std::ofstream(p) << "x"; }

// The pid of a process that has exited and been reaped (so kill(pid, 0) fails with ESRCH).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

std::string host() {
  const auto t = fs::path(temporary_path("x.h5")).filename().string();  // .x.h5.tmp-<host>-<pid>
  const auto rest = t.substr(std::string(".x.h5.tmp-").size());
  return rest.substr(0, rest.rfind('-'));
}
}  // namespace

TEST(TemporaryFiles, PathIsHiddenBesideTheTargetWithHostAndPid) {
  const auto t = fs::path(temporary_path("/some/dir/results.h5"));
  EXPECT_EQ(t.parent_path(), fs::path("/some/dir"));
  EXPECT_EQ(t.filename().string(), ".results.h5.tmp-" + host() + "-" + std::to_string(::getpid()));
  EXPECT_EQ(fs::path(temporary_path("r.h5")).parent_path(), fs::path("."));
}

TEST(TemporaryFiles, StaleOnesOfDeadProcessesOfThisHostAreRemovedOthersKept) {
  const auto d = fresh_dir("convdyn_test_stale_tmp");
  const auto target = (d / "r.h5").string();
  const pid_t dead = dead_pid();
  const std::string me = std::to_string(::getpid()), gone = std::to_string(dead);
  const auto stale_new = d / (".r.h5.tmp-" + host() + "-" + gone);
  const auto stale_old = d / (".r.h5.tmp-" + gone);                   // older versions: no host
  const auto live = d / (".r.h5.tmp-" + host() + "-" + std::to_string(::getppid()));
  const auto other_host = d / (".r.h5.tmp-another-node-" + gone);     // a shared file system
  const auto other_file = d / (".other.h5.tmp-" + host() + "-" + gone);
  const auto not_a_pid = d / (".r.h5.tmp-" + host() + "-12ab");
  for (const auto& p : {stale_new, stale_old, live, other_host, other_file, not_a_pid}) touch(p);
  auto removed = remove_stale_temporaries(target);
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected{stale_new.string(), stale_old.string()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(removed, expected);
  EXPECT_FALSE(fs::exists(stale_new));
  EXPECT_FALSE(fs::exists(stale_old));
  for (const auto& p : {live, other_host, other_file, not_a_pid}) EXPECT_TRUE(fs::exists(p)) << p;
  EXPECT_TRUE(remove_stale_temporaries((d / "missing_dir" / "r.h5").string()).empty());
}

// A child registers a temporary file, installs the handler and is sent `sig`: it must die by that signal
// with the file removed, and an unregistered file kept.
void expect_signal_removes(int sig) {
  const auto d = fresh_dir(sig == SIGTERM ? "convdyn_test_sigterm_tmp" : "convdyn_test_sigint_tmp");
  const std::string registered = (d / ".r.h5.tmp-registered").string();
  const std::string kept = (d / ".r.h5.tmp-unregistered").string();
  const std::string released = (d / ".r.h5.tmp-released").string();
  touch(registered);
  touch(kept);
  touch(released);
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls and the non-allocating registry below
    remove_temporaries_on_signal();
    register_temporary(registered);
    register_temporary(released);
    unregister_temporary(released);
    ::kill(::getpid(), sig);
    ::_exit(0);  // not reached: the handler re-raises with the default action
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
  EXPECT_EQ(WTERMSIG(status), sig);
  EXPECT_FALSE(fs::exists(registered));
  EXPECT_TRUE(fs::exists(kept));
  EXPECT_TRUE(fs::exists(released));
}

TEST(TemporaryFiles, SigtermRemovesRegisteredFilesAndStillKills) { expect_signal_removes(SIGTERM); }
TEST(TemporaryFiles, SigintRemovesRegisteredFilesAndStillKills) { expect_signal_removes(SIGINT); }
