// Child processes for `sweep submit`: sbatch/scancel calls and --local workers (posix_spawn, no shell).
#pragma once
#include <string>
#include <sys/types.h>
#include <vector>

namespace convdyn::apps::sweep {

/// The executable `name` on PATH, or "" when there is none.
std::string find_program(const std::string& name);
/// The running convdyn binary (/proc/self/exe), for the scripts and the workers to call.
std::string self_executable();

struct Captured {
  int code = -1;    ///< exit status; 128 + N when ended by signal N
  std::string out;  ///< its stdout (stderr passes through)
};
/// Runs argv[0] (looked up on PATH) with `argv`, waits, captures stdout. Throws IoError when it cannot start.
Captured run_captured(const std::vector<std::string>& argv);

/// Starts argv without waiting; returns the pid. Throws IoError when it cannot start.
pid_t spawn(const std::vector<std::string>& argv);
/// Waits for any child; returns {pid, exit status as in Captured::code}.
std::pair<pid_t, int> wait_any();

}  // namespace convdyn::apps::sweep
