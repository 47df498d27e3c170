// convdyn sweep: the subcommands' options and entry points (apps/cmd_sweep.cpp registers them).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/sweep/merge.hpp"
#include "analysis/sweep/plan.hpp"

namespace convdyn::apps::sweep {

/// The commands a sweep item can run.
inline const std::vector<std::string> kCommands = {"spectrum", "stability", "eigvec"};

/// One kind of analysis to plan for a set of checkpoints (from the command line or a plan file).
struct Request {
  std::vector<std::string> checkpoints;  ///< paths or glob patterns
  std::string command = "spectrum";
  bool all = false;
  std::vector<std::string> layers;
  std::vector<std::string> options;  ///< the command's own options, as words
};

struct PlanArgs {
  Request request;
  std::string options;    ///< --options, split into words
  std::string plan_file;  ///< JSON with several requests
  std::string dir;
  bool force = false;
  bool quiet = false;
};

struct RunArgs {
  std::string dir;
  long long task = -1, tasks = 0;  ///< -1 / 0: from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else 0 of 1
  int threads = 0;                 ///< 0: SLURM_CPUS_PER_TASK, else LibTorch's default
  bool retry_failed = false;
  bool quiet = false;
};

struct SubmitArgs {
  std::string dir;
  long long tasks = 0;
  std::string out;  ///< merged file (default DIR/merged.h5)
  std::string partition, time, mem, gres;
  int cpus_per_task = 1;
  std::vector<std::string> sbatch_args;
  bool dry_run = false;
  bool resume = false;
  int local = 0;  ///< > 0: run the shards here with this many worker processes, then merge
};

int plan(const PlanArgs& a);
int run(const RunArgs& a);
int submit(const SubmitArgs& a);
int status(const std::string& dir);
int merge(const std::string& dir, const std::string& out, bool force);

// Shared by the subcommands.
std::string plan_path(const std::string& dir);
std::string shards_dir(const std::string& dir);
std::string shard_path(const std::string& dir, long long task);
std::vector<std::string> shard_files(const std::string& dir);
/// The command words of an item (without --out), e.g. {"spectrum", CKPT, "--layer", "area_conv.0", "--k", "8"}.
std::vector<std::string> item_words(const analysis::sweep::Item& it);
/// Splits an --options string into words (whitespace; '...' and "..." quote; no other shell syntax).
std::vector<std::string> split_words(const std::string& s);

}  // namespace convdyn::apps::sweep
