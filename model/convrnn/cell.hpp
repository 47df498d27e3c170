// The seven ConvRNN model-zoo cell types (Nayebi et al. 2022) as LibTorch ops: one-step state updates,
// built from the cell's TF variables. Facts: docs/convrnn.md ("Cell updates", "Checkpoint variables").
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace convdyn::model {

namespace detail {
struct CellOps;  // the per-cell-type code (cell.cpp)
}

/// The zoo's cell types. rgc comes in two variants (shallow: full 3x3 convs, no biases; intermediate:
/// depthwise-separable 7x7 gates with fixed scale factors, a 2x2 feedforward conv, residual and feedback).
enum class CellType { TimeDecay, SimpleRNN, GRU, LSTM, UGRNN, IntersectionRNN, RGCShallow, RGCIntermediate };

/// "timedecay", "simplernn", "gru", "lstm", "ugrnn", "intersectionrnn", "rgc_shallow", "rgc_intermediate".
const char* to_string(CellType t);

/// The cell type a variable belongs to, from its name relative to the layer scope:
/// ConvNormBasicCell/ -> SimpleRNN, ConvGRUCell/ -> GRU, ConvLSTMCell/ -> LSTM, ConvUGRNNCell/ -> UGRNN,
/// ConvIntersectionRNNCell/ -> IntersectionRNN, ReciprocalGateCell/ ending in "/weights" -> RGCShallow (its
/// convs are "<scope>/weights", no biases), other ReciprocalGateCell/ names (depthwise_weights,
/// pointwise_weights, bias, input_to_cell_weights, ...) -> RGCIntermediate, "memory_decay" -> TimeDecay.
/// nullopt for anything else (pre_0/..., post_0/..., optimiser slots). A layer named "tnn_model/<layer>/"
/// must already be stripped.
std::optional<CellType> cell_type_from_scope(const std::string& var_name_under_layer);

/// Per-cell options. Layer norm and lstm peepholes are switched on by the presence of their variables
/// (the zoo creates them only when they are used).
struct CellOptions {
  /// Require layer norm (simplernn, lstm): ValueError when its gamma/beta variables are missing. Layer
  /// norm is used whenever those variables exist, whatever this flag says.
  bool layer_norm = false;
  /// Offset inside a gate sigmoid: lstm forget gate sigma(f + forget_bias); gru reset gate
  /// sigma(r~ + forget_bias); ugrnn sigma(g + forget_bias); intersectionrnn sigma(g_h + ..), sigma(g_y + ..).
  /// The zoo default is 1.0; lstm_shallow uses 1.356 / 0.978 / 0.925 for conv3 / conv4 / conv5.
  double forget_bias = 1.0;
  double ln_epsilon = 1e-12;        ///< layer norm: (v - mean) / sqrt(var + eps) (tf.contrib layer_norm)
  double rgc_tau_scale = 0.922;     ///< rgc_intermediate: (s - s sigma(DS7_tau(.))), s = 0.922
  double rgc_gate_scale = 0.701;    ///< rgc_intermediate: (s - s tanh(DS7_gate(.))), s = 0.701
  /// timedecay only: the state channel count when the variables hold no pre conv
  /// (pre_0/weights_basenet [k, k, Cin, C] gives C). 0 = take it from pre_0.
  std::int64_t channels = 0;
  c10::ScalarType dtype = c10::ScalarType::Double;  ///< float64 (default) or float32
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

/// Extra drives besides the cell input x; undefined tensors mean zero.
struct CellDrive {
  /// rgc_shallow: the harbor input u of R*u (residual_to_out_gate), (1, Cu, H, W).
  /// rgc_intermediate: the residual input (1, Cres, H, W) (through residual_add_weights when present,
  /// else added as is, Cres = C).
  at::Tensor u;
  /// rgc_intermediate: the feedback input (1, Cfb, H, W) of feedback_to_out_weights (if the layer has it).
  at::Tensor f;
};

/// One cell layer of the zoo: its update s' = F(x, s) on an H x W grid. A value type (copies share the
/// weight tensors, which are never modified). All tensors NCHW, batch first.
///
/// State layouts (channels): timedecay, simplernn, gru, ugrnn, intersectionrnn: [h] (C);
/// lstm: [c; h] (2C, c first); rgc_shallow: [c; h] (2C); rgc_intermediate: [c; h] (Cc + C).
/// x is the formula's x of docs/convrnn.md: the cell input after the layer's pre conv and after any input
/// activation (rgc: x = elu(pre conv output); the caller applies the elu. With the zero drive, x = 0
/// either way).
class ConvRNNCell {
 public:
  /// `vars`: variable name relative to the layer scope (e.g. "ConvGRUCell/gates/weights") -> tensor in TF
  /// layout ([kh, kw, Cin, Cout] convs, [kh, kw, C, 1] depthwise, [C] biases, [H, W, C] peepholes, [1]
  /// memory_decay). Names outside the cell's scope (pre_0/..., post_0/...) are ignored, except that
  /// timedecay reads its channel count from pre_0/weights_basenet. Throws ValueError (one line, naming the
  /// variable) for a missing variable, a wrong shape, NaN/Inf values, an unsupported variable inside the
  /// cell's scope, or non-positive H, W.
  static ConvRNNCell from_variables(CellType type, const std::map<std::string, at::Tensor>& vars,
                                    std::int64_t height, std::int64_t width, const CellOptions& opt = {});

  CellType type() const noexcept { return type_; }
  const CellOptions& options() const noexcept { return opt_; }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  std::int64_t input_channels() const noexcept { return cin_; }  ///< channels of x
  std::int64_t channels() const noexcept { return c_; }          ///< output / h channels C
  std::int64_t cell_channels() const noexcept { return cc_; }    ///< c channels (lstm, rgc), else 0
  std::int64_t state_channels() const noexcept { return cc_ + c_; }
  std::int64_t state_size() const noexcept { return state_channels() * height_ * width_; }  ///< n
  std::string state_layout() const;  ///< "[h]" or "[c; h]"
  /// Channels expected of CellDrive::u and ::f (0 when the cell takes none).
  std::int64_t residual_channels() const noexcept { return cu_; }
  std::int64_t feedback_channels() const noexcept { return cfb_; }
  bool layer_norm() const noexcept { return layer_norm_; }
  bool peepholes() const noexcept { return peepholes_; }
  double memory_decay() const noexcept { return memory_decay_; }  ///< timedecay's m (else 0)
  /// Spatial kernel sizes of the cell's convs, distinct, ascending (e.g. {2} for lstm conv3 of
  /// lstm_shallow; {1, 2, 3, 7} for rgc_intermediate; empty for timedecay).
  std::vector<std::int64_t> kernel_sizes() const;
  /// One-line summary: "gru, state [h] 3 ch, input 2 ch, k 3, 5x5".
  std::string describe() const;

  /// The zero state (1, Cs, H, W).
  at::Tensor zero_state() const;
  /// One step: x (B or 1, Cin, H, W), s (B, Cs, H, W) -> next state (B, Cs, H, W), in the cell's dtype and
  /// device (inputs are converted). Differentiable (LibTorch autograd) in s, x and the drives.
  at::Tensor step(const at::Tensor& x, const at::Tensor& s, const CellDrive& extra = {}) const;
  /// The cell's output at (x, s) (what the next layer reads): h' for most cells (the h part of the next
  /// state for lstm / rgc), y = sigma(g_y+fb) x + (1 - sigma(g_y+fb)) relu(y~) for intersectionrnn.
  at::Tensor output(const at::Tensor& x, const at::Tensor& s, const CellDrive& extra = {}) const;

  /// A purely linear recurrent conv inside the cell: the block of a kernel that acts on (part of) the
  /// state. `weight` (Cout, Cin, k, k) OIHW float64 CPU; padding TF 'SAME' (see SameConvOperator; even
  /// kernels pad after). `from`/`to` name the state parts ("h", "c").
  struct LinearPart {
    std::string name;    ///< e.g. "gates/r/h"
    at::Tensor weight;
    std::string padding = "same";
    std::string from, to;
    std::string role;    ///< what it feeds, e.g. "h -> reset gate pre-activation"
    bool square() const { return weight.size(0) == weight.size(1); }
  };
  /// The linear recurrent parts, by cell type (square ones can be wrapped in a SameConvOperator):
  ///  simplernn: "s" (W_s, h -> h);  gru: "gates/r/h", "gates/u/h" (the h columns of the gate kernel),
  ///  "candidates/h" (acts on r.h);  lstm: "i/h", "j/h", "f/h", "o/h";  ugrnn: "g/h", "c/h";
  ///  intersectionrnn: "gh/h", "h/h", "gy/h", "y/h";  rgc_shallow: "cell/tau" (c -> c), "out/tau" (h -> h),
  ///  "cell/gate" (h -> c), "out/gate" (c -> h);  rgc_intermediate: "cell/tau" (c -> c), "out/tau" (h -> h),
  ///  "cell/out_to_cell" (h -> c), "out/gate" (c -> h), each DS7 folded into one 7x7 conv
  ///  W[o, i] = P[o, i] D[i] (the cross ones are not square unless Cc = C);  timedecay: none (J = m I).
  std::vector<LinearPart> linear_parts() const;

 private:
  friend struct detail::CellOps;
  ConvRNNCell() = default;
  const at::Tensor& w(const std::string& key) const;  // converted weight by internal key
  at::Tensor ln(const at::Tensor& v, const std::string& scope) const;
  at::Tensor ds7(const at::Tensor& v, const std::string& scope) const;
  void check_inputs(const at::Tensor& x, const at::Tensor& s, const CellDrive& extra) const;

  CellType type_ = CellType::TimeDecay;
  CellOptions opt_;
  std::int64_t height_ = 0, width_ = 0, cin_ = 0, c_ = 0, cc_ = 0, cu_ = 0, cfb_ = 0;
  bool layer_norm_ = false, peepholes_ = false, residual_projection_ = false;
  double memory_decay_ = 0;
  std::map<std::string, at::Tensor> w_;  // TF name -> tensor converted (convs OIHW, depthwise (C,1,k,k), peepholes CHW)
};

}  // namespace convdyn::model
