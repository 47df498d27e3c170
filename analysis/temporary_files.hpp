// Temporary files that an interrupted run must not leave behind (the results file's `.NAME.tmp-HOST-PID`).
//
// Process-wide by necessity: a signal handler can only reach a fixed registry. A program that owns its signals
// (the CLI) installs the handler once with remove_temporaries_on_signal(); a host that has its own (the Python
// extension: Python's KeyboardInterrupt) does not, and relies on the destructors that run as the exception
// unwinds.
#pragma once
#include <string>
#include <vector>

namespace convdyn::analysis {

/// The temporary name a process of this host writes for `target` (same folder, hidden):
/// `<dir>/.<name>.tmp-<host>-<pid>`.
std::string temporary_path(const std::string& target);

/// Registers / unregisters a temporary file for removal by the signal handler. At most 32 at a time (more are
/// not registered: they are still removed by their owner's destructor and, later, as stale). Thread-safe.
void register_temporary(const std::string& path);
void unregister_temporary(const std::string& path);

/// Installs handlers for SIGINT and SIGTERM (Slurm's scancel and time limit send SIGTERM) that unlink every
/// registered temporary file, then re-raise the signal with its default action, so the process still ends
/// by that signal. A signal ignored when this is called stays ignored. Idempotent.
void remove_temporaries_on_signal();

/// A file written under its temporary name and renamed onto `target` by commit(): registered for the signal
/// handler while it lives; removed by the destructor unless committed (an error on the way leaves nothing).
class ReplacingFile {
 public:
  explicit ReplacingFile(std::string target);
  ~ReplacingFile();
  ReplacingFile(const ReplacingFile&) = delete;
  ReplacingFile& operator=(const ReplacingFile&) = delete;
  /// The temporary name to write.
  const std::string& path() const { return tmp_; }
  /// Renames the temporary onto the target; throws IoError "<target>: cannot rename ..." on failure.
  void commit();

 private:
  std::string target_, tmp_;
  bool committed_ = false;
};

/// Removes the temporaries of `target` (from temporary_path, or the `.<name>.tmp-<pid>` of older versions)
/// whose process is gone: written by this host (older versions: assumed this host) and `kill(pid, 0)` fails
/// with ESRCH. Files of live processes and of other hosts (a shared file system) are kept. Returns the removed
/// paths.
std::vector<std::string> remove_stale_temporaries(const std::string& target);

}  // namespace convdyn::analysis
