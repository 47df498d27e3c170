// convdyn sweep run: one shard's items, in this process, each recorded in DIR/shards/I.h5 as it finishes.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "analysis/results.hpp"
#include "analysis/sweep/shard.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/sweep/sweep.hpp"
#include "linalg/error.hpp"

namespace convdyn::apps {

int run_command(const std::vector<std::string>& words, const CommandContext& ctx) {
  CLI::App app{"convdyn"};
  app.require_subcommand(1);
  add_spectrum_command(app, ctx);
  add_stability_command(app, ctx);
  add_eigvec_command(app, ctx);
  // The item's own command line goes into its results file; the sweep's is restored afterwards.
  const std::string saved = command_line();
  std::vector<std::string> all = {"convdyn"};
  all.insert(all.end(), words.begin(), words.end());
  set_command_line(shell_quote(all));
  std::vector<std::string> reversed(words.rbegin(), words.rend());  // CLI11 takes the words last first
  int code = 0;
  try {
    app.parse(reversed);
  } catch (const CommandResult& r) {
    code = r.code;
  } catch (...) {
    set_command_line(saved);
    throw;
  }
  set_command_line(saved);
  return code;
}

namespace sweep {
namespace fs = std::filesystem;
using analysis::sweep::ItemRecord;

namespace {
long long env_int(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  CONVDYN_CHECK(end && *end == '\0', ValueError, "${}={}: not an integer", name, v);
  return x;
}

// LibTorch's intra-op threads and, when the BLAS is OpenBLAS, its own pool (found at run time: the BLAS
// is chosen by Debian's alternatives, not at link time).
void set_threads(int threads) {
  if (threads <= 0) return;
  at::set_num_threads(threads);
  using SetThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(threads);
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Sends stdout (the command's tables) to the shard's log for the scope; progress stays on stderr.
class StdoutTo {
 public:
  explicit StdoutTo(const std::string& path) {
    std::fflush(stdout);
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd_ >= 0) {
      saved_ = ::dup(STDOUT_FILENO);
      ::dup2(fd_, STDOUT_FILENO);
    }
  }
  ~StdoutTo() {
    std::fflush(stdout);
    if (saved_ >= 0) {
      ::dup2(saved_, STDOUT_FILENO);
      ::close(saved_);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  StdoutTo(const StdoutTo&) = delete;
  StdoutTo& operator=(const StdoutTo&) = delete;

 private:
  int fd_ = -1, saved_ = -1;
};

std::string one_line(std::string s) {
  s = s.substr(0, s.find('\n'));
  return s.empty() ? "unknown error" : s;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int run(const RunArgs& a) {
  const auto plan = analysis::sweep::read_plan(plan_path(a.dir));
  long long task = a.task, tasks = a.tasks;
  if (task < 0) task = env_int("SLURM_ARRAY_TASK_ID", -1);
  if (tasks <= 0) tasks = env_int("SLURM_ARRAY_TASK_COUNT", 0);
  if (task < 0 && tasks <= 0) {
    task = 0;
    tasks = 1;
  }
  CONVDYN_CHECK(task >= 0 && tasks >= 1, ValueError,
                "give --task I and --tasks N together (or run inside a Slurm array job)");
  CONVDYN_CHECK(task < tasks, ValueError, "--task {} is not below --tasks {}", task, tasks);
  set_threads(a.threads > 0 ? a.threads : static_cast<int>(env_int("SLURM_CPUS_PER_TASK", 0)));

  const auto shards = analysis::sweep::assign_shards(plan, static_cast<int>(tasks));
  const auto& mine = shards[static_cast<std::size_t>(task)];
  std::error_code ec;
  fs::create_directories(shards_dir(a.dir), ec);
  fs::create_directories(fs::path(a.dir) / "logs", ec);
  // Done anywhere counts: a resumed sweep with another --tasks finds earlier shards' items.
  const auto progress = analysis::sweep::read_progress(plan, shard_files(a.dir));
  for (const auto& u : progress.unreadable) fmt::print(stderr, "warning: {} (its items count as pending)\n", u);
  std::vector<std::size_t> todo;
  for (const auto i : mine) {
    const auto* r = progress.record(i);
    if (!r || (a.retry_failed && r->status != analysis::sweep::kOk)) todo.push_back(i);
  }
  const auto shard = shard_path(a.dir, task);
  const auto log = (fs::path(a.dir) / "logs" / fmt::format("task-{}.log", task)).string();
  const auto scratch = (fs::path(shards_dir(a.dir)) / fmt::format(".task-{}.item.h5", task)).string();
  note(a.quiet, fmt::format("[task {}/{}] {} item(s), {} already done; shard {}, tables in {}", task, tasks,
                            mine.size(), mine.size() - todo.size(), shard, log));
  ModelCache models;
  CommandContext ctx;
  ctx.models = &models;
  const std::string host = host_name();
  std::size_t n_ok = 0, n_bad = 0;
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const auto& it = plan.items[todo[k]];
    ItemRecord rec;
    rec.id = it.id;
    rec.index = static_cast<long long>(todo[k]);
    rec.task = task;
    rec.host = host;
    fs::remove(scratch, ec);
    const auto t0 = std::chrono::steady_clock::now();
    int code = -1;
    if (it.command == "eigvec" && it.layer.empty()) {
      rec.error = it.problem.empty() ? "eigvec needs an operator" : it.problem;
    } else {
      auto words = item_words(it);
      words.insert(words.end(), {"--out", scratch, "--force", "--quiet"});
      try {
        StdoutTo to_log(log);
        fmt::print("\n=== item {} ({}): {}\n", it.id, todo[k], shell_quote(words));
        code = run_command(words, ctx);
      } catch (const CLI::ParseError& e) {
        rec.error = one_line(e.what());
      } catch (const c10::Error& e) {
        rec.error = one_line(e.what_without_backtrace());
      } catch (const std::bad_alloc&) {
        rec.error = "out of memory";
      } catch (const std::exception& e) {
        rec.error = one_line(e.what());
      }
    }
    rec.load_seconds = models.last_load_seconds();
    rec.seconds = std::max(0.0, since(t0) - rec.load_seconds);
    const auto tw = std::chrono::steady_clock::now();
    std::string results;
    if (rec.error.empty()) {
      if (!fs::is_regular_file(scratch, ec)) {
        rec.error = fmt::format("{} exited with code {} without writing results", it.command, code);
      } else {
        const auto totals = analysis::sweep::results_totals(scratch);
        rec.matvecs = totals.matvecs;
        rec.all_converged = totals.all_converged;
        results = scratch;
        if (code == 2) rec.error = fmt::format("{} exited with code 2", it.command);
      }
    }
    if (!rec.error.empty()) {
      rec.status = analysis::sweep::kFailed;
      results.clear();
    } else {
      rec.status = rec.all_converged ? analysis::sweep::kOk : analysis::sweep::kUnconverged;
      if (!rec.all_converged) rec.error = "some eigenpairs did not converge (results kept, marked unconverged)";
    }
    rec.finished_utc = analysis::utc_timestamp();
    rec.write_seconds = since(tw);
    analysis::sweep::add_to_shard(shard, plan.id, task, tasks, rec, results);
    fs::remove(scratch, ec);
    (rec.status == analysis::sweep::kFailed ? n_bad : n_ok)++;
    note(a.quiet, fmt::format("[task {}] {}/{} {} {} {}{}: {} in {:.2f} s (load {:.2f} s){}", task, k + 1, todo.size(),
                              it.id, it.command, fs::path(it.checkpoint).filename().string(),
                              it.layer.empty() ? "" : " " + it.layer, rec.status, rec.seconds, rec.load_seconds,
                              rec.status == analysis::sweep::kOk ? "" : ": " + rec.error));
  }
  note(a.quiet, fmt::format("[task {}] finished: {} recorded ({} failed) in {}", task, n_ok + n_bad, n_bad, shard));
  return 0;
}

}  // namespace sweep
}  // namespace convdyn::apps
