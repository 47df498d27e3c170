// convdyn sweep plan|run|submit|status|merge: many checkpoints x operators as Slurm array jobs (or local
// workers), resumable, merged into one results file. The work itself is in apps/sweep/.
#include <fmt/format.h>

#include "apps/commands.hpp"
#include "apps/sweep/sweep.hpp"

namespace convdyn::apps {

namespace {
constexpr const char* kWorkflow =
    "Many analyses as one job: every checkpoint of a training run or a model zoo, every operator.\n"
    "\n"
    "  convdyn sweep plan 'runs/epoch_*.pth' --all --options '--k 8' --out DIR   items -> DIR/plan.json\n"
    "  convdyn sweep submit DIR --tasks 16 --time 1:00:00    Slurm array (DIR/sweep.sbatch) + merge job\n"
    "  convdyn sweep submit DIR --tasks 4 --local 2          no Slurm: 2 worker processes here, then merge\n"
    "  convdyn sweep status DIR                              done / failed / pending, errors, overhead\n"
    "  convdyn sweep submit DIR --resume                     after faults: only shards with missing items\n"
    "  convdyn sweep merge DIR --out sweep.h5                one file: /items/<id>/..., /sweep/index\n"
    "\n"
    "Each item has a stable id (checkpoint SHA-256, command, layer, options). A task writes shards/<task>.h5\n"
    "atomically after every item: a killed task loses only the item in progress, and a rerun (`sweep run`,\n"
    "`submit --resume`) does exactly the missing items. An item that fails (unreadable checkpoint, unknown\n"
    "layer) or does not converge is recorded with its error and the shard goes on. See docs/sweeps.md.";
}

void add_sweep_command(CLI::App& app) {
  auto* sweep = app.add_subcommand("sweep", "Many checkpoints x operators as Slurm array jobs (or local workers), "
                                            "resumable, merged into one results file");
  sweep->footer(kWorkflow);
  sweep->require_subcommand(1);

  auto pa = std::make_shared<sweep::PlanArgs>();
  auto* plan = sweep->add_subcommand("plan", "Expand checkpoints x operators into numbered items: DIR/plan.json");
  plan->add_option("checkpoints", pa->request.checkpoints,
                   "checkpoints: paths or quoted glob patterns ('runs/epoch_*.pth', 'zoo/*/model.ckpt.index'); "
                   "PyTorch and TensorFlow 1 checkpoints");
  plan->add_option("--command", pa->request.command, "what each item runs: spectrum, stability or eigvec")
      ->capture_default_str()
      ->check(CLI::IsMember(sweep::kCommands));
  plan->add_flag("--all", pa->request.all, "one item per recurrent operator of each checkpoint (spectrum, eigvec)");
  plan->add_option("--layer", pa->request.layers, "one item per named operator (repeatable)");
  plan->add_option("--options", pa->options,
                   "the command's own options, one quoted string, e.g. '--k 8 --tol 1e-10 --which LM' or, for "
                   "stability, '--inputs images.npy --limit 4'; checked now against the command");
  plan->add_option("--plan-file", pa->plan_file,
                   "JSON with several requests: {\"checkpoints\": [...], \"requests\": [{\"command\": \"spectrum\", "
                   "\"all\": true, \"options\": \"--k 8\"}, {\"command\": \"stability\"}]} (docs/sweeps.md)");
  plan->add_option("--out", pa->dir, "the sweep folder (created): plan.json, shards/, logs/")->required();
  plan->add_flag("--force", pa->force, "replace another plan in DIR (only while DIR has no shards)");
  plan->add_flag("-q,--quiet", pa->quiet, "no progress messages on stderr");
  plan->callback([pa] { throw CommandResult(sweep::plan(*pa)); });

  auto ra = std::make_shared<sweep::RunArgs>();
  auto* run = sweep->add_subcommand("run", "Run shard I of N here (what each array task does); resumes");
  run->add_option("dir", ra->dir, "the sweep folder")->required();
  run->add_option("--task", ra->task, "shard index I (default $SLURM_ARRAY_TASK_ID; without Slurm and --tasks: 0)");
  run->add_option("--tasks", ra->tasks, "number of shards N (default $SLURM_ARRAY_TASK_COUNT; else 1: every item)");
  run->add_option("--threads", ra->threads,
                  "threads for LibTorch and OpenBLAS (default $SLURM_CPUS_PER_TASK, else all cores)");
  run->add_flag("--retry-failed", ra->retry_failed, "also rerun items recorded as failed or unconverged");
  run->add_flag("-q,--quiet", ra->quiet, "no progress messages on stderr");
  run->callback([ra] { throw CommandResult(sweep::run(*ra)); });

  auto sa = std::make_shared<sweep::SubmitArgs>();
  auto* submit = sweep->add_subcommand("submit", "Submit the shards as an sbatch array job and a merge job after it");
  submit->add_option("dir", sa->dir, "the sweep folder")->required();
  submit->add_option("--tasks", sa->tasks, "number of shards = array tasks (items balanced by operator size)");
  submit->add_option("--out", sa->out, "the merged results file (default DIR/merged.h5)");
  submit->add_option("--partition", sa->partition, "sbatch --partition");
  submit->add_option("--time", sa->time, "sbatch --time per task, e.g. 2:00:00");
  submit->add_option("--mem", sa->mem, "sbatch --mem per task, e.g. 8G");
  submit->add_option("--cpus-per-task", sa->cpus_per_task, "sbatch --cpus-per-task; also each task's threads")
      ->capture_default_str();
  submit->add_option("--gres", sa->gres, "sbatch --gres for the array tasks, e.g. gpu:1");
  submit->add_option("--sbatch-arg", sa->sbatch_args, "any other sbatch option, e.g. --sbatch-arg=--qos=long (repeatable)");
  submit->add_flag("--dry-run", sa->dry_run, "write and print the scripts and the sbatch commands; submit nothing");
  submit->add_flag("--resume", sa->resume,
                   "submit only the shards with missing items (after a cancelled, preempted or failed task), with "
                   "the --tasks of the first submission, and a new merge job");
  submit->add_option("--local", sa->local,
                     "no Slurm: run the shards here with this many worker processes, then merge")
      ->check(CLI::PositiveNumber);
  submit->callback([sa] { throw CommandResult(sweep::submit(*sa)); });

  auto dir = std::make_shared<std::string>();
  auto* status = sweep->add_subcommand("status", "Done / failed / pending items, their errors, the per-item overhead "
                                                 "(exit 0 when every item is recorded, 3 while some are pending)");
  status->add_option("dir", *dir, "the sweep folder")->required();
  status->callback([dir] { throw CommandResult(sweep::status(*dir)); });

  auto ma = std::make_shared<std::pair<std::string, std::string>>();
  auto force = std::make_shared<bool>(false);
  auto* merge = sweep->add_subcommand("merge", "One results file from the shards: /items/<id>/... and /sweep/index "
                                               "(exit 3 when items are missing; the file then lists them as missing)");
  merge->add_option("dir", ma->first, "the sweep folder")->required();
  merge->add_option("--out", ma->second, "the merged HDF5 file")->required();
  merge->add_flag("--force", *force, "overwrite an existing --out file");
  merge->callback([ma, force] { throw CommandResult(sweep::merge(ma->first, ma->second, *force)); });
}

}  // namespace convdyn::apps
