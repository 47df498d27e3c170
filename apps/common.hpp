// Pieces shared by the convdyn subcommands.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "model/network.hpp"

namespace convdyn::apps {

/// How a command finds its checkpoint and the operators in it.
struct CheckpointArgs {
  std::string path;
  std::string key;                 ///< --key: state dict location in a training checkpoint
  std::vector<std::int64_t> size;  ///< --size H,W for the generic kernel path
};
void add_checkpoint_options(CLI::App& cmd, CheckpointArgs& a);

struct LoadedModel {
  model::Checkpoint ckpt;
  model::Network net;  ///< CordsNet areas, or the kernels chosen with --layer and --size
};

/// Loads the checkpoint; recognises a CordsNet, else builds layers from `generic_keys` (needs --size).
LoadedModel load_model(const CheckpointArgs& a, const std::vector<std::string>& generic_keys);

/// The command line as one shell-quoted string (recorded in results files).
std::string command_line();
void set_command_line(int argc, char** argv);

/// Progress and notes go to stderr unless --quiet.
void note(bool quiet, const std::string& msg);

}  // namespace convdyn::apps
