// A sweep's shard file, DIR/shards/I.h5: the finished items of task I, each /items/<id> holding the item's
// results (the results-file schema: layers/, stability/, the root attributes) and its record. Every update
// copies the file, extends the copy and renames it into place, so a task killed at any moment leaves the
// previous complete shard file (every item finished before the one in progress).
#pragma once
#include <string>
#include <vector>

namespace convdyn::analysis::sweep {

/// How an item ended. Failed: an error (unreadable checkpoint, unknown layer, ...), `error` says which;
/// unconverged: results written but some eigenpair did not reach the tolerance.
inline constexpr const char* kOk = "ok";
inline constexpr const char* kFailed = "failed";
inline constexpr const char* kUnconverged = "unconverged";

struct ItemRecord {
  std::string id;
  long long index = -1;       ///< in the plan
  std::string status;         ///< kOk | kFailed | kUnconverged
  std::string error;          ///< one line; "" when ok
  double seconds = 0;         ///< the analysis itself (load and write excluded)
  double load_seconds = 0;    ///< loading and hashing the checkpoint (0 when this shard had it loaded already)
  double write_seconds = 0;   ///< collecting the item's results and updating the shard file (add_to_shard
                              ///< adds its own time, up to the final close and rename)
  long long matvecs = 0;      ///< operator applications, summed over the item's solves
  bool all_converged = false;
  long long task = -1;
  std::string host;
  std::string finished_utc;
};

struct Shard {
  std::string path;
  std::string plan_id;
  long long task = -1, tasks = 0;
  std::vector<ItemRecord> items;
};

/// Reads a shard file's header and records. Throws IoError naming the file.
Shard read_shard(const std::string& path);

/// Adds `record` (replacing an earlier record of the same id) to the shard file at `path`, created when
/// missing, with the contents of `results_file` (a results file; "" for a failed item) under /items/<id>.
/// Refuses a shard file of another plan. Atomic (see above). The record's write_seconds gets this call's time
/// added.
void add_to_shard(const std::string& path, const std::string& plan_id, long long task, long long tasks,
                  const ItemRecord& record, const std::string& results_file);

/// Sums `matvecs` attributes and ANDs `all_converged` attributes over every group of a results file: the
/// item's totals for its record.
struct ResultsTotals {
  long long matvecs = 0;
  bool all_converged = true;
};
ResultsTotals results_totals(const std::string& results_file);

}  // namespace convdyn::analysis::sweep
