// Subcommand registration. Each cmd_*.cpp holds its args struct, an add_*_command and a run_* function.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace convdyn::apps {

class ModelCache;

/// How a subcommand runs. The CLI: defaults (its own model cache, run after parsing). A sweep shard: the
/// shard's cache, so items of one checkpoint load it once; a sweep plan: parse_only, to check options early.
struct CommandContext {
  ModelCache* models = nullptr;
  bool parse_only = false;
};

/// Thrown by a subcommand callback to hand its exit code back to main.
struct CommandResult {
  int code;
  explicit CommandResult(int c) : code(c) {}
};

void add_inspect_command(CLI::App& app);
void add_spectrum_command(CLI::App& app, const CommandContext& ctx = {});
void add_stability_command(CLI::App& app, const CommandContext& ctx = {});
void add_eigvec_command(CLI::App& app, const CommandContext& ctx = {});
void add_pseudospectrum_command(CLI::App& app, const CommandContext& ctx = {});
void add_run_command(CLI::App& app);
void add_sweep_command(CLI::App& app);

/// Runs one analysis subcommand (spectrum, stability or eigvec) from its words, e.g. {"spectrum", CKPT,
/// "--layer", "area_conv.0", "--out", FILE}, in this process; returns its exit code. Parse errors throw
/// CLI::ParseError (parse_only: nothing else is done).
int run_command(const std::vector<std::string>& words, const CommandContext& ctx);

}  // namespace convdyn::apps
