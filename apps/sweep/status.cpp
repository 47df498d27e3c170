// convdyn sweep status / merge.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/common.hpp"
#include "apps/sweep/process.hpp"
#include "apps/sweep/sweep.hpp"
#include "linalg/error.hpp"

namespace convdyn::apps::sweep {

namespace fs = std::filesystem;
namespace sw = analysis::sweep;

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

long long submitted_tasks(const std::string& dir, std::string& jobs) {
  std::ifstream f((fs::path(dir) / "submit.json").string());
  if (!f) return 0;
  try {
    const auto j = nlohmann::json::parse(f);
    jobs = j.value("array_job", "");
    const std::string m = j.value("merge_job", "");
    if (!m.empty()) jobs += (jobs.empty() ? "" : ",") + m;
    return j.value("tasks", 0LL);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
}
}  // namespace

int status(const std::string& dir) {
  const auto plan = sw::read_plan(plan_path(dir));
  const auto progress = sw::read_progress(plan, shard_files(dir));
  const auto n = plan.items.size();
  const auto ok = progress.count(sw::kOk), failed = progress.count(sw::kFailed),
             unconverged = progress.count(sw::kUnconverged), pending = progress.count(sw::kMissing);
  fmt::print("{}: plan {}, {} items: {} done ({} ok, {} unconverged), {} failed, {} pending\n", dir, plan.id, n,
             ok + unconverged, ok, unconverged, failed, pending);
  for (const auto& u : progress.unreadable) fmt::print("  unreadable shard: {}\n", u);

  std::string jobs;
  if (const long long tasks = submitted_tasks(dir, jobs); tasks > 0) {
    const auto shards = sw::assign_shards(plan, static_cast<int>(tasks));
    fmt::print("\n{:>6} {:>7} {:>7} {:>8}\n", "task", "items", "done", "pending");
    for (long long t = 0; t < tasks; ++t) {
      std::size_t done = 0;
      for (const auto i : shards[static_cast<std::size_t>(t)]) done += progress.record(i) ? 1 : 0;
      const auto total = shards[static_cast<std::size_t>(t)].size();
      fmt::print("{:>6} {:>7} {:>7} {:>8}\n", t, total, done, total - done);
    }
  }
  if (failed + unconverged > 0) {
    fmt::print("\nfailed and unconverged items:\n");
    for (std::size_t i = 0; i < n; ++i) {
      const auto* r = progress.record(i);
      if (!r || r->status == sw::kOk) continue;
      const auto& it = plan.items[i];
      fmt::print("  {} {:<11} {} {} {}: {}\n", it.id, r->status, it.command, it.checkpoint,
                 it.layer.empty() ? "(model)" : it.layer, r->error);
    }
  }
  if (pending > 0 && pending <= 20) {
    fmt::print("\npending items:\n");
    for (std::size_t i = 0; i < n; ++i)
      if (!progress.record(i))
        fmt::print("  {} {} {} {}\n", plan.items[i].id, plan.items[i].command, plan.items[i].checkpoint,
                   plan.items[i].layer.empty() ? "(model)" : plan.items[i].layer);
  }
  // The cost of running items through the sweep rather than one command each, next to the analyses.
  std::vector<double> work, load, write;
  for (std::size_t i = 0; i < n; ++i) {
    const auto* r = progress.record(i);
    if (!r || r->status == sw::kFailed) continue;
    work.push_back(r->seconds);
    if (r->load_seconds > 0) load.push_back(r->load_seconds);
    write.push_back(r->write_seconds);
  }
  if (!work.empty()) {
    double load_sum = 0;
    for (double x : load) load_sum += x;
    const double per_item = (load_sum / static_cast<double>(work.size())) + median(write);
    fmt::print("\nper item (median over {} finished): analysis {:.3f} s; overhead: load+hash {:.3f} s per checkpoint "
               "load ({} loads, {:.3f} s per item), write {:.3f} s; overhead/analysis {:.1f}%\n",
               work.size(), median(work), median(load), load.size(), load_sum / static_cast<double>(work.size()),
               median(write), median(work) > 0 ? 100 * per_item / median(work) : 0.0);
  }
  if (!jobs.empty()) {
    if (const auto squeue = find_program("squeue"); !squeue.empty()) {
      const auto q = run_captured({squeue, "-h", "-j", jobs, "-o", "%i %j %T %R"});
      if (q.code == 0 && !q.out.empty()) fmt::print("\nslurm (squeue -j {}):\n{}", jobs, q.out);
    }
  }
  return pending == 0 ? 0 : 3;
}

int merge(const std::string& dir, const std::string& out, bool force) {
  const auto plan = sw::read_plan(plan_path(dir));
  const auto progress = sw::read_progress(plan, shard_files(dir));
  for (const auto& u : progress.unreadable) fmt::print(stderr, "warning: unreadable shard: {}\n", u);
  const auto s = sw::merge(plan, progress, out, force);
  fmt::print("wrote {}: {} items ({} ok, {} unconverged, {} failed, {} missing)\n", out, s.items, s.ok,
             s.unconverged, s.failed, s.missing);
  if (s.missing == 0) return 0;
  fmt::print(stderr, "warning: {} item(s) missing (no shard holds them; `convdyn sweep status {}` lists them, "
                     "`convdyn sweep submit {} --resume` runs them)\n", s.missing, dir, dir);
  return 3;
}

}  // namespace convdyn::apps::sweep
