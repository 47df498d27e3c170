// convdyn sweep submit: an sbatch array job over the shards and a merge job after it; or --local workers.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "analysis/results.hpp"
#include "apps/common.hpp"
#include "apps/sweep/process.hpp"
#include "apps/sweep/sweep.hpp"
#include "linalg/error.hpp"

namespace convdyn::apps::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string submit_record_path(const std::string& dir) { return (fs::path(dir) / "submit.json").string(); }

std::optional<json> read_submit_record(const std::string& dir) {
  std::ifstream f(submit_record_path(dir));
  if (!f) return std::nullopt;
  try {
    return json::parse(f);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// Shards (of `tasks`) with at least one item no shard file holds yet.
std::vector<long long> shards_to_run(const analysis::sweep::Plan& plan, const std::string& dir, long long tasks,
                                     bool resume) {
  const auto shards = analysis::sweep::assign_shards(plan, static_cast<int>(tasks));
  std::vector<long long> out;
  if (!resume) {
    for (long long t = 0; t < tasks; ++t) out.push_back(t);
    return out;
  }
  const auto progress = analysis::sweep::read_progress(plan, shard_files(dir));
  for (long long t = 0; t < tasks; ++t)
    for (const auto i : shards[static_cast<std::size_t>(t)])
      if (!progress.record(i)) {
        out.push_back(t);
        break;
      }
  return out;
}

// "0-3" for every shard, else "1,4,5": sbatch's --array syntax.
std::string array_spec(const std::vector<long long>& tasks, long long all) {
  if (static_cast<long long>(tasks.size()) == all) return fmt::format("0-{}", all - 1);
  return fmt::format("{}", fmt::join(tasks, ","));
}

std::string sbatch_header(const SubmitArgs& a, bool gpu) {
  std::string s;
  if (!a.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", a.partition);
  if (!a.time.empty()) s += fmt::format("#SBATCH --time={}\n", a.time);
  if (!a.mem.empty()) s += fmt::format("#SBATCH --mem={}\n", a.mem);
  if (gpu && !a.gres.empty()) s += fmt::format("#SBATCH --gres={}\n", a.gres);
  for (const auto& x : a.sbatch_args) s += fmt::format("#SBATCH {}\n", x);
  return s;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot write", path);
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
}

std::string job_id(const Captured& c, const std::string& what) {
  std::string id = c.out.substr(0, c.out.find_first_of(";\n"));
  CONVDYN_CHECK(c.code == 0 && !id.empty(), IoError, "sbatch {} failed (exit {}{})", what, c.code,
                c.out.empty() ? "" : ": " + c.out);
  return id;
}

int run_local(const SubmitArgs& a, const std::vector<long long>& todo, long long tasks, const std::string& out) {
  const std::string self = self_executable();
  const int hw = std::max(1u, std::thread::hardware_concurrency());
  const int workers = std::min<int>(a.local, static_cast<int>(std::max<std::size_t>(todo.size(), 1)));
  const int threads = std::max(1, hw / std::max(1, workers));
  note(false, fmt::format("[local] {} shard(s) of {} with {} worker process(es), {} thread(s) each", todo.size(),
                          tasks, workers, threads));
  std::map<pid_t, long long> running;
  std::size_t next = 0, failed = 0;
  while (next < todo.size() || !running.empty()) {
    while (next < todo.size() && static_cast<int>(running.size()) < workers) {
      const long long t = todo[next++];
      running.emplace(spawn({self, "sweep", "run", a.dir, "--task", std::to_string(t), "--tasks",
                             std::to_string(tasks), "--threads", std::to_string(threads)}),
                      t);
    }
    const auto [pid, code] = wait_any();
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    if (code != 0) {
      ++failed;
      fmt::print(stderr, "[local] task {} ended with exit code {}\n", it->second, code);
    }
    running.erase(it);
  }
  if (failed) fmt::print(stderr, "[local] {} task(s) failed; `convdyn sweep submit {} --resume --local {}` reruns what is missing\n",
                         failed, a.dir, a.local);
  return merge(a.dir, out, /*force=*/true);
}
}  // namespace

int submit(const SubmitArgs& a) {
  const auto plan = analysis::sweep::read_plan(plan_path(a.dir));
  const auto prev = read_submit_record(a.dir);
  long long tasks = a.tasks;
  if (tasks <= 0 && a.resume && prev && prev->contains("tasks")) tasks = (*prev)["tasks"].get<long long>();
  CONVDYN_CHECK(tasks > 0, ValueError, "--tasks N: the number of shards (array tasks) to run");
  const auto items = static_cast<long long>(plan.items.size());
  if (tasks > items) {
    note(false, fmt::format("note: {} tasks for {} items: using {}", tasks, items, items));
    tasks = items;
  }
  CONVDYN_CHECK(!(a.resume && prev && prev->contains("tasks") && (*prev)["tasks"].get<long long>() != tasks), ValueError,
                "--resume --tasks {}: the sweep was submitted with --tasks {}; resume with the same number",
                tasks, (*prev)["tasks"].get<long long>());
  const std::string out = fs::absolute(a.out.empty() ? (fs::path(a.dir) / "merged.h5").string() : a.out).string();
  const auto todo = shards_to_run(plan, a.dir, tasks, a.resume);
  std::error_code ec;
  fs::create_directories(fs::path(a.dir) / "logs", ec);
  if (a.resume && todo.empty()) note(false, fmt::format("nothing to resume: every item of {} is recorded", a.dir));
  if (a.local > 0) return run_local(a, todo, tasks, out);

  const std::string sbatch = find_program("sbatch");
  CONVDYN_CHECK(!sbatch.empty() || a.dry_run, IoError,
                "sbatch not found: Slurm is not installed here (or not on PATH). Run the shards on this machine "
                "instead: convdyn sweep submit {} --tasks {} --local J (J worker processes)", a.dir, tasks);
  const std::string self = self_executable();
  const std::string dir = fs::absolute(a.dir).string();
  const std::string logs = (fs::path(dir) / "logs").string();
  const std::string array_script = (fs::path(dir) / "sweep.sbatch").string();
  const std::string merge_script = (fs::path(dir) / "merge.sbatch").string();
  if (!todo.empty()) {
    write_text(array_script,
               fmt::format("#!/bin/bash\n"
                           "# convdyn sweep, plan {}: {} items in {} shards. Written by `convdyn sweep submit`;\n"
                           "# each task runs one shard and records its items in shards/<task>.h5 as they finish.\n"
                           "#SBATCH --job-name=convdyn-sweep\n"
                           "#SBATCH --array={}\n"
                           "#SBATCH --output={}/slurm-%A_%a.out\n"
                           "#SBATCH --cpus-per-task={}\n"
                           "{}"
                           "export OMP_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-1}}\n"
                           "export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS\n"
                           "exec {} sweep run {} --task \"$SLURM_ARRAY_TASK_ID\" --tasks {}\n",
                           plan.id, items, tasks, array_spec(todo, tasks), logs, a.cpus_per_task,
                           sbatch_header(a, true), shell_quote({self}), shell_quote({dir}), tasks));
  }
  write_text(merge_script, fmt::format("#!/bin/bash\n"
                                       "# convdyn sweep, plan {}: merges the shards into one results file.\n"
                                       "#SBATCH --job-name=convdyn-sweep-merge\n"
                                       "#SBATCH --output={}/slurm-merge-%j.out\n"
                                       "#SBATCH --cpus-per-task=1\n"
                                       "{}"
                                       "exec {} sweep merge {} --out {} --force\n",
                                       plan.id, logs, sbatch_header(a, false), shell_quote({self}),
                                       shell_quote({dir}), shell_quote({out})));
  if (a.dry_run) {
    if (!todo.empty()) {
      fmt::print("# {}\n", array_script);
      std::ifstream f(array_script);
      fmt::print("{}", std::string(std::istreambuf_iterator<char>(f), {}));
    }
    fmt::print("# {}\n", merge_script);
    std::ifstream g(merge_script);
    fmt::print("{}", std::string(std::istreambuf_iterator<char>(g), {}));
    fmt::print("\n# would run:\n");
    if (!todo.empty()) fmt::print("sbatch --parsable {}\n", array_script);
    fmt::print("sbatch --parsable {}{}\n", todo.empty() ? "" : "--dependency=afterok:<array job id> ", merge_script);
    return 0;
  }
  // A merge job waiting on a failed array never runs: replace it.
  if (a.resume && prev && prev->contains("merge_job")) {
    const auto scancel = find_program("scancel");
    if (!scancel.empty()) run_captured({scancel, (*prev)["merge_job"].get<std::string>()});
  }
  std::string array_job;
  if (!todo.empty()) array_job = job_id(run_captured({sbatch, "--parsable", array_script}), array_script);
  std::vector<std::string> merge_cmd = {sbatch, "--parsable"};
  if (!array_job.empty()) merge_cmd.push_back("--dependency=afterok:" + array_job);
  merge_cmd.push_back(merge_script);
  const std::string merge_job = job_id(run_captured(merge_cmd), merge_script);
  json rec = {{"tasks", tasks}, {"array", array_spec(todo, tasks)}, {"array_job", array_job},
              {"merge_job", merge_job}, {"out", out}, {"submitted_utc", analysis::utc_timestamp()}};
  write_text(submit_record_path(a.dir), rec.dump(1) + "\n");
  if (!array_job.empty())
    fmt::print("submitted array job {} ({} of {} shards: --array={}) and merge job {} after it -> {}\n", array_job,
               todo.size(), tasks, array_spec(todo, tasks), merge_job, out);
  else
    fmt::print("submitted merge job {} -> {}\n", merge_job, out);
  fmt::print("follow with: convdyn sweep status {}\n", a.dir);
  return 0;
}

}  // namespace convdyn::apps::sweep
