// The structure of a ConvRNN model-zoo checkpoint: its cell layers, their cell types, channels, kernels and
// spatial sizes. Facts: docs/convrnn.md ("Geometry", "Checkpoint variables").
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/io/checkpoint.hpp"
#include "model/convrnn/cell.hpp"

namespace convdyn::model {

struct ConvRNNOptions {
  /// One H x W for every cell layer (the CLI's --size), overriding the known geometry.
  std::optional<std::pair<std::int64_t, std::int64_t>> size;
  /// Per-layer H x W ("conv4" -> {14, 14}); wins over `size` and the geometry.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> sizes;
  c10::ScalarType dtype = c10::ScalarType::Double;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

struct ConvRNNLayer {
  std::string name;   ///< the layer scope, e.g. "conv4" (variables under tnn_model/conv4/)
  CellType type;
  ConvRNNCell cell;
  std::int64_t height = 0, width = 0;
  std::string geometry_source;  ///< "shallow geometry", "intermediate geometry", "--size" or "--size conv4=..."
  std::string config_source;    ///< e.g. "lstm_shallow config (k 2, layer norm, forget_bias 1.356)", or "defaults"
  std::vector<std::string> variables;  ///< the layer's variable names (relative to tnn_model/<layer>/), sorted
};

struct ConvRNNModel {
  std::string family;            ///< e.g. "gru_shallow", "rgc_intermediate" (cell type + depth)
  std::string depth;             ///< "shallow" or "intermediate"
  std::vector<ConvRNNLayer> layers;  ///< cell layers in network order (conv3, conv4, ... conv10)
  std::string path;              ///< the checkpoint's path, for messages
  /// The layer called `name`; ValueError listing the valid names when there is none.
  const ConvRNNLayer& layer(const std::string& name) const;
  std::vector<std::string> layer_names() const;
};

/// layer -> (variable name relative to tnn_model/<layer>/ -> tensor) for every tnn_model/<layer>/<rest> weight;
/// optimiser slots (".../Momentum", ".../Adam*", moving averages) and global_step are skipped.
std::map<std::string, std::map<std::string, at::Tensor>> convrnn_layer_variables(const Checkpoint& ckpt);

/// Whether the checkpoint holds zoo variables: some name "tnn_model/<layer>/<cell scope>/..." (or
/// ".../memory_decay") whose scope cell_type_from_scope recognises.
bool looks_like_convrnn(const Checkpoint& ckpt);

/// Recognises the zoo model: groups the variables under tnn_model/<layer>/ (optimiser slots ".../Momentum",
/// ".../Adam*" and global_step are skipped), finds each cell layer's type from its scope (a layer with two
/// cell types is an error; timedecay layers are those of the depth's cell layers that hold memory_decay),
/// the depth from the layer names (conv6..conv10 present -> intermediate, else shallow), each layer's
/// H x W from the geometry (shallow conv3 28, conv4 14, conv5 7; intermediate conv4 56, conv5 28, conv6 28,
/// conv7 14, conv8..10 7) unless overridden, and the lstm_shallow per-layer config (k 2 / 3 / 4, layer norm,
/// forget_bias 1.356 / 0.978 / 0.925) when an lstm shallow layer's name and kernel match it. Throws
/// ValueError (naming the file and layer) when no cell layer is found or a layer's variables are
/// inconsistent (the cell's message, prefixed by the layer).
ConvRNNModel load_convrnn(const Checkpoint& ckpt, const ConvRNNOptions& opt = {});

}  // namespace convdyn::model
