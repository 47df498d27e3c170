// Pieces shared by the convdyn subcommands: the checkpoint options, loading, the results file, and the
// parsing of option strings into the typed values the libraries take (done here, once).
#pragma once
#include <CLI/CLI.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/loaded_model.hpp"
#include "analysis/results.hpp"
#include "model/convrnn/network.hpp"
#include "linalg/solvers/solve.hpp"

namespace convdyn::apps {

/// How a command finds its checkpoint and the operators in it.
struct CheckpointArgs {
  std::string path;
  std::string key;                 ///< --key: state dict location in a training checkpoint
  std::vector<std::int64_t> size;  ///< --size H,W: grid of a generic kernel, or of every zoo cell layer
};
void add_checkpoint_options(CLI::App& cmd, CheckpointArgs& a);

using analysis::LoadedModel;
using analysis::ModelKind;
using analysis::read_drive;
/// analysis::load_model with the command's checkpoint options.
LoadedModel load_model(const CheckpointArgs& a, const std::vector<std::string>& generic_keys,
                       c10::ScalarType cell_dtype = c10::ScalarType::Double);

/// The model last loaded, kept for the next command of the same process: a sweep shard runs the items of one
/// checkpoint one after another and loads it once. Holds one model (the memory of one).
class ModelCache {
 public:
  /// load_model(a, generic_keys, cell_dtype), or the model kept from the previous call with the same options.
  const LoadedModel& get(const CheckpointArgs& a, const std::vector<std::string>& generic_keys,
                         c10::ScalarType cell_dtype = c10::ScalarType::Double);
  /// Seconds the last get() spent loading (reading, hashing, building); 0 when it reused the kept model.
  double last_load_seconds() const { return last_load_seconds_; }

 private:
  std::string key_;
  std::vector<std::string> generic_keys_;
  std::optional<LoadedModel> model_;
  double last_load_seconds_ = 0;
};
/// The results file of a run (`out` empty: none), opened before anything is computed so that an
/// unwritable destination fails now, not after the solve. `append`: add to an existing file of the same
/// checkpoint.
std::optional<analysis::ResultsWriter> open_results(const std::string& out, bool force, bool append,
                                                    const CheckpointArgs& a, const LoadedModel& m);

/// A zoo checkpoint's whole network at the size of the first image of `image_path` (read and normalised as the zoo
/// does, analysis::prepare_zoo_images), for the commands that linearise it (`spectrum --layer network`,
/// `stability --network`). ValueError naming `what` for a checkpoint that is not a whole zoo network.
struct ZooNetworkAtImage {
  LoadedModel model;  ///< kind ConvRNN, cells not built; architecture names the network
  at::Tensor image;   ///< [1, 3, H, W], normalised
  std::string described;  ///< what was done to the image
  std::unique_ptr<model::ConvRNNNetwork> net;
};
ZooNetworkAtImage load_zoo_network(const CheckpointArgs& a, const std::string& image_path, bool any_size,
                                   const std::string& what);

/// --dtype: float64 | float32.
c10::ScalarType parse_dtype(const std::string& s);
/// --device for building operators: cpu, cuda, cuda:N (linalg::parse_device, which also sets the CUDA
/// numerics). One exception: with `method` dense and a CPU-only LibTorch but the cuSOLVER path compiled in,
/// the operator stays on the CPU (see dense_cuda_device).
c10::Device parse_operator_device(const std::string& s, linalg::Method method);
/// The CUDA ordinal a dense solve runs on for --device `s` (cuda = 0), or -1 for the CPU.
int dense_cuda_device(const std::string& s, linalg::Method method);

/// The command line as one shell-quoted string (recorded in results files).
std::string command_line();
void set_command_line(int argc, char** argv);
void set_command_line(const std::string& quoted);
/// Words joined into one string a POSIX shell splits back into the same words.
std::string shell_quote(const std::vector<std::string>& words);

/// Progress and notes go to stderr unless --quiet.
void note(bool quiet, const std::string& msg);

}  // namespace convdyn::apps
