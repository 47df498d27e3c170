// A checkpoint loaded with what it turned out to hold: a CordsNet, a ConvRNN model-zoo model, or square kernels
// chosen by key. Shared by the CLI and the Python package.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/convrnn/model.hpp"
#include "model/io/checkpoint.hpp"
#include "model/recurrent_layers.hpp"

namespace convdyn::analysis {

enum class ModelKind { CordsNet, ConvRNN, Kernels };

struct LoadModelOptions {
  std::string key;                         ///< where the state dict sits in a training checkpoint ("" = usual keys)
  std::vector<std::int64_t> size;          ///< H, W: grid of the generic kernels, or of every zoo cell layer
  std::vector<std::string> generic_keys;   ///< kernels to build layers from when the architecture is not known
  c10::ScalarType cell_dtype = c10::ScalarType::Double;  ///< of a zoo model's cells
  /// Build a zoo model's cells at the known geometry (LoadedModel::convrnn). false: only recognise the zoo
  /// checkpoint (kind ConvRNN, convrnn unset), for callers that build the cells at other sizes (the network).
  bool zoo_cells = true;
};

struct LoadedModel {
  ModelKind kind = ModelKind::Kernels;
  model::Checkpoint ckpt;
  model::Network net;  ///< CordsNet areas, or the kernels chosen by key
  std::optional<model::ConvRNNModel> convrnn;  ///< a ConvRNN model-zoo checkpoint (then `net` has no layers)
};

/// Loads the checkpoint (PyTorch .pth or TensorFlow bundle, by content); recognises a CordsNet (unless a size
/// is given) or a ConvRNN zoo model, else builds layers from `generic_keys` (which then need `size`).
/// Throws IoError / ValueError naming the file and the problem.
LoadedModel load_model(const std::string& path, const LoadModelOptions& opt);

/// A zoo cell layer's constant drive: an .npy / HDF5 array [Cin, H, W] or [1, Cin, H, W] (values as stored), as
/// a (1, Cin, H, W) float64 tensor; undefined when `path` is empty.
at::Tensor read_drive(const std::string& path);

}  // namespace convdyn::analysis
