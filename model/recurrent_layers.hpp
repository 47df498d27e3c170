// The recurrent convolutions of a checkpoint: the layers of a recognised architecture (CordsNet areas, see
// model/cordsnet/detect.hpp), or square kernels chosen by key (the generic path).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/io/checkpoint.hpp"

namespace convdyn::model {

/// One square recurrent convolution W (C x C x k x k) acting on a C x H x W state.
struct RecurrentLayer {
  std::string name;             ///< the checkpoint's module key, e.g. "area_conv.3"
  at::Tensor weight;            ///< float64, contiguous, weight normalisation resolved
  std::int64_t channels = 0, height = 0, width = 0, kernel = 0;
  std::string parametrisation;  ///< see ResolvedWeight
  std::int64_t n() const { return channels * height * width; }
};

struct Network {
  std::string architecture;           ///< e.g. "CordsNet (depth 4)"
  std::vector<RecurrentLayer> layers;  ///< in model order
  /// The layer called `name` (module key, or the key of its weight tensor). Throws ValueError that lists
  /// the valid names when there is none.
  const RecurrentLayer& layer(const std::string& name) const;
  std::vector<std::string> layer_names() const;
  std::string path;                   ///< checkpoint path, for messages
};

/// The generic path: any square 4-D kernel of the checkpoint by key (`rnn.weight`, or the module `rnn`
/// with weight normalisation resolved) on an H x W grid.
RecurrentLayer kernel_layer(const Checkpoint& ckpt, const std::string& key, std::int64_t height,
                            std::int64_t width);

/// Checks a kernel can be a recurrent conv (4-D, C_out == C_in, square odd kernel, finite).
void check_recurrent_kernel(const Checkpoint& ckpt, const std::string& name, const at::Tensor& w);

/// Every 4-D tensor of the checkpoint with its shape, for listings ("rnn.weight [5, 5, 3, 3]").
std::vector<std::string> list_kernels(const Checkpoint& ckpt);

}  // namespace convdyn::model
