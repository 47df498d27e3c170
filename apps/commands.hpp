// Subcommand registration. Each cmd_*.cpp holds its args struct, an add_*_command and a run_* function.
#pragma once
#include <CLI/CLI.hpp>

namespace convdyn::apps {

/// Thrown by a subcommand callback to hand its exit code back to main.
struct CommandResult {
  int code;
  explicit CommandResult(int c) : code(c) {}
};

void add_inspect_command(CLI::App& app);
void add_spectrum_command(CLI::App& app);
void add_stability_command(CLI::App& app);
void add_eigvec_command(CLI::App& app);

}  // namespace convdyn::apps
