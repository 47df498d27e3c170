// A ConvRNN model-zoo checkpoint as a whole network: conv1 .. convN and the imnetds readout, unrolled in time
// the zoo's way (every edge one step of delay), with rgc_intermediate's feedback edges. Facts:
// docs/convrnn-network.md.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/convrnn/model.hpp"
#include "model/io/checkpoint.hpp"

namespace convdyn::model {

struct ConvRNNNetworkOptions {
  std::int64_t height = 224, width = 224;  ///< image size; every layer's size follows (docs/convrnn-network.md §5)
  c10::ScalarType dtype = c10::ScalarType::Double;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

/// One node of the unrolled graph.
struct NetworkNode {
  std::string name;                       ///< "conv1" .. "conv10", "imnetds"
  std::optional<std::size_t> cell;        ///< index into ConvRNNNetwork::cells() for a cell layer
  std::int64_t channels = 0, height = 0, width = 0;  ///< of its output (imnetds: classes, 1, 1)
  std::int64_t first_step = 0;            ///< the step (0-based) at which the image first reaches it
  std::vector<std::string> feedback;      ///< senders of feedback edges, in the harbor's order
};

/// The unrolled zoo network. A step reads every node's predecessors' outputs of the previous step
/// (synchronous update); conv1 reads the frame. States and outputs are NCHW tensors of the run's dtype.
class ConvRNNNetwork {
 public:
  /// Throws ValueError (naming the file and the variable) for a checkpoint without the whole network
  /// (conv1 .. the last cell layer and imnetds with their pre_0 convs and readout), shapes that do not
  /// chain, or a non-zero memory_decay in a layer without a cell. An image too small for the shallow
  /// readout's 2x2 VALID conv is refused by check_readout() (and by step() and readout()), not here: the
  /// state map needs no readout.
  ConvRNNNetwork(const Checkpoint& ckpt, const ConvRNNNetworkOptions& opt = {});

  struct State {
    std::vector<at::Tensor> outputs;  ///< per node, [B, C, H, W] (imnetds: [B, classes])
    std::vector<at::Tensor> cells;    ///< per cell layer, [B, Cs, Hc, Wc]
  };

  const ConvRNNModel& model() const noexcept { return model_; }
  const std::vector<NetworkNode>& nodes() const noexcept { return nodes_; }
  const NetworkNode& node(const std::string& name) const;  ///< ValueError listing the names
  std::int64_t classes() const noexcept { return nodes_.back().channels; }
  bool has_feedback() const noexcept { return feedback_; }
  std::int64_t image_height() const noexcept { return opt_.height; }
  std::int64_t image_width() const noexcept { return opt_.width; }
  const std::string& family() const noexcept { return model_.family; }
  std::string describe() const;
  /// ValueError when the image size leaves the last layer smaller than the readout's kernel.
  void check_readout() const;

  /// Zero outputs and states (the unroller's t = 0 standins).
  State zero_state(std::int64_t batch) const;
  /// One unrolled step: `frame` [B, 3, H, W] (normalised image, or the blank) -> the next state.
  State step(const State& s, const at::Tensor& frame) const;
  /// The logits of a state: its imnetds output [B, classes].
  const at::Tensor& logits(const State& s) const { return s.outputs.back(); }

  // --- the state map under a constant image (docs/convrnn-network.md §6) ----------------------------------
  /// The outputs of the cell-free layers before the first cell layer under a constant `image` [1, 3, H, W]
  /// (their steady values), in node order.
  std::vector<at::Tensor> prefix_outputs(const at::Tensor& image) const;
  /// The flat state z: per cell layer in network order, its cell state then its output, each in C, H, W order.
  std::int64_t state_size() const;
  /// (name, C, H, W) of each block of z: "<layer>/state", "<layer>/output".
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> state_blocks() const;
  /// z' = F(z): one step of every cell layer reading the prefix's steady output. Differentiable.
  at::Tensor state_map(const at::Tensor& z, const std::vector<at::Tensor>& prefix) const;
  /// The readout at z (imnetds applied to the last cell layer's output block) [classes].
  at::Tensor readout(const at::Tensor& z) const;

 private:
  struct Layer;
  at::Tensor pre(std::size_t i, const at::Tensor& in) const;
  at::Tensor layer_output(std::size_t i, const at::Tensor& in, const at::Tensor& f, const at::Tensor& s,
                          at::Tensor* next_state) const;
  at::Tensor feedback_input(std::size_t i, const std::vector<at::Tensor>& outputs) const;
  at::Tensor imnetds(const at::Tensor& in) const;

  ConvRNNNetworkOptions opt_;
  ConvRNNModel model_;
  std::vector<NetworkNode> nodes_;
  std::vector<std::shared_ptr<const Layer>> layers_;  // per node but imnetds
  at::Tensor fc_w_, fc_b_;                            // imnetds
  bool fc_conv_ = false;                              // shallow: 2x2 VALID conv then mean; else mean then fc
  std::string readout_error_;                         // non-empty: the image is too small for the readout
  bool feedback_ = false;
  std::size_t first_cell_ = 0;
};

/// ValueError naming the file unless the checkpoint holds every layer of a zoo network (conv1 .. conv5 or
/// conv10, and imnetds), as running it needs; the zoo-shaped cell checkpoints hold only the cell layers.
void check_whole_network(const Checkpoint& ckpt);

/// Presentation of the image over time (docs/convrnn-network.md §2): `times` steps, the image at steps
/// t < image_off (no image_off: every step), then `off_value` everywhere.
struct Presentation {
  std::int64_t times = 0;
  std::optional<std::int64_t> image_off;
  double off_value = 0.5;
};
/// The zoo's default for a model: shallow 16 steps / intermediate 17, image off after 12; a name with
/// "t22" / "t30": 22 / 30 steps with the image throughout.
Presentation default_presentation(const std::string& depth, const std::string& checkpoint_path);

}  // namespace convdyn::model
