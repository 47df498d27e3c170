// Pieces shared by the convdyn subcommands.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "model/convrnn_model.hpp"
#include "model/network.hpp"

namespace convdyn::apps {

/// How a command finds its checkpoint and the operators in it.
struct CheckpointArgs {
  std::string path;
  std::string key;                 ///< --key: state dict location in a training checkpoint
  std::vector<std::int64_t> size;  ///< --size H,W: grid of a generic kernel, or of every zoo cell layer
  std::string dtype = "float64";   ///< dtype the zoo cells are loaded in (their Jacobians run in it)
};
void add_checkpoint_options(CLI::App& cmd, CheckpointArgs& a);

struct LoadedModel {
  model::Checkpoint ckpt;
  model::Network net;  ///< CordsNet areas, or the kernels chosen with --layer and --size
  std::optional<model::ZooModel> zoo;  ///< a ConvRNN model-zoo checkpoint (then `net` has no layers)
};

/// Loads the checkpoint (PyTorch .pth or TensorFlow bundle, by content); recognises a CordsNet or a
/// ConvRNN zoo model, else builds layers from `generic_keys` (needs --size).
LoadedModel load_model(const CheckpointArgs& a, const std::vector<std::string>& generic_keys);

/// The results file of a run (`out` empty: none), opened before anything is computed so that an
/// unwritable destination fails now, not after the solve. `append`: add to an existing file of the same
/// checkpoint.
std::optional<analysis::ResultsWriter> open_results(const std::string& out, bool force, bool append,
                                                    const CheckpointArgs& a, const LoadedModel& m);

/// The --drive of a zoo cell layer: an .npy / HDF5 array [Cin, H, W] or [1, Cin, H, W] (float values as
/// stored), as a (1, Cin, H, W) float64 tensor; undefined when `path` is empty.
at::Tensor read_drive(const std::string& path);

/// The command line as one shell-quoted string (recorded in results files).
std::string command_line();
void set_command_line(int argc, char** argv);

/// Progress and notes go to stderr unless --quiet.
void note(bool quiet, const std::string& msg);

}  // namespace convdyn::apps
