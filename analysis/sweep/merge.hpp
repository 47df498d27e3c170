// Merging a sweep's shard files into one results file: /items/<id> for every item of the plan that a shard
// holds, and /sweep/index, one row per plan item (a compound table that h5py and pandas read directly).
#pragma once
#include <string>
#include <vector>

#include "analysis/sweep/plan.hpp"
#include "analysis/sweep/shard.hpp"

namespace convdyn::analysis::sweep {

/// Status of a plan item that no shard holds.
inline constexpr const char* kMissing = "missing";

/// Where each plan item stands, from the shard files found: the chosen record (an ok record over a failed or
/// unconverged one, then the later one) or none.
struct Progress {
  std::vector<Shard> shards;
  std::vector<std::string> unreadable;  ///< "PATH: problem" for shard files that could not be read
  /// Per plan item: {shard index, record index} into `shards`, or {-1, -1} when missing.
  std::vector<std::pair<int, int>> chosen;
  std::size_t count(const char* status) const;
  const ItemRecord* record(std::size_t item) const;
};

/// Reads the shard files (`shard_files`, e.g. every DIR/shards/*.h5). Throws IoError for a shard of another
/// plan (a reused folder); an unreadable shard file is listed, not fatal.
Progress read_progress(const Plan& plan, const std::vector<std::string>& shard_files);

struct MergeSummary {
  std::size_t items = 0, ok = 0, failed = 0, unconverged = 0, missing = 0;
};

/// Writes `out` (temporary + rename; refuses an existing file unless `force`).
MergeSummary merge(const Plan& plan, const Progress& progress, const std::string& out, bool force);

}  // namespace convdyn::analysis::sweep
