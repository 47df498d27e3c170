// The CordsNet forward dynamics (simulation, pre-activations, readout) from a checkpoint.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/io/checkpoint.hpp"

namespace convdyn::model {

/// A CordsNet of any depth, built from a checkpoint's state dict (facts: docs/cordsnet.md).
///
///     inp  = avgpool3x3/s2/p1( inp_conv(image) )                 inp_conv 7x7, stride 2, pad 3
///     x_0  = inp
///     x_1  = relu(r_0) + inp_skip(inp)                           inp_skip 3x3, stride 1, pad 1
///     x_l  = relu(r_{l-1}) + relu(r_{l-2})                       even l >= 2
///     x_l  = relu(r_{l-1}) + skip_area[(l-3)/2](relu(r_{l-2}))  odd l >= 3 (1x1, stride 2)
///     u_l  = area_conv[l](r_l) + conv_bias[l] + area_area[l](x_l)   (area_area: 3x3, stride s_l, pad 1)
///     r_l <- (1 - alpha) r_l + alpha relu(u_l),   l = depth-1 down to 0, in place
///     logits = out_fc( mean_hw( relu(r_last) + relu(r_second_last) ) )
///
/// Strides are not stored in a checkpoint; they are derived from the shapes: s_l = 1 when area l has the
/// spatial size of its input, 2 when it has ceil(size / 2), else the checkpoint is rejected. Area 0's
/// input is the input drive, which must have area 0's size (s_0 = 1, as in the release); `check_image`
/// says which image sizes fit.
///
/// All weights are resolved in float64 (`resolve_weight`, either weight-norm layout or plain) and then
/// converted to `dtype` on `device`. States are [B, C_l, H_l, W_l] tensors of that dtype and device.
/// Convs have no bias, so the input drive of a zero image is exactly zero.
class CordsNet {
 public:
  /// Throws ValueError (naming the file and key) for a checkpoint that is not a CordsNet, missing
  /// modules, or shapes that do not chain (channels, sizes, strides, skip connections, readout).
  explicit CordsNet(const Checkpoint& ckpt, c10::ScalarType dtype = c10::ScalarType::Double,
                    c10::Device device = c10::Device(c10::DeviceType::CPU));

  std::int64_t depth() const noexcept { return static_cast<std::int64_t>(channels_.size()); }
  const std::vector<std::int64_t>& channels() const noexcept { return channels_; }
  const std::vector<std::int64_t>& heights() const noexcept { return heights_; }
  const std::vector<std::int64_t>& widths() const noexcept { return widths_; }
  const std::vector<std::int64_t>& strides() const noexcept { return strides_; }  ///< of area_area[l]
  std::int64_t input_channels() const noexcept { return input_channels_; }  ///< image channels
  std::int64_t drive_channels() const noexcept { return drive_channels_; }  ///< inp_conv's out channels
  std::int64_t area_n(std::int64_t l) const;  ///< C_l * H_l * W_l
  std::int64_t total_n() const;              ///< sum of area_n
  bool has_readout() const noexcept { return fc_weight_.defined(); }
  c10::ScalarType dtype() const noexcept { return dtype_; }
  c10::Device device() const noexcept { return device_; }
  const std::string& path() const noexcept { return path_; }

  /// Throws ValueError unless an image of `shape` ([B, C, H, W] or [C, H, W]) has the input channels and
  /// gives an input drive of area 0's size, e.g. "image of 30x30 gives an input drive of 8x8 but area 0
  /// is 7x7 (sizes that fit: 25..28)".
  void check_image(at::IntArrayRef shape) const;

  /// inp = avgpool(inp_conv(image)) for an image [B, C, H, W] (a [C, H, W] image is a batch of one).
  at::Tensor input_drive(const at::Tensor& image) const;

  /// Zero states [B, C_l, H_l, W_l].
  std::vector<at::Tensor> zero_state(std::int64_t batch) const;

  /// One time step in place (deepest area first). `inp` undefined = zero image (no drive).
  void step(std::vector<at::Tensor>& r, const at::Tensor& inp, double alpha) const;

  /// The image's time-constant terms of a step: area_area[0](inp) and inp_skip(inp) (both undefined for an
  /// undefined `inp`). step(r, inp, alpha) computes them at every step; a long run computes them once.
  struct ImageDrive {
    at::Tensor area0, skip;
  };
  ImageDrive image_drive(const at::Tensor& inp) const;
  /// One time step (deepest area first) with precomputed image terms; the same values as step(r, inp, alpha).
  /// The tensors of `r` are replaced, never written to, so states shared with other tensors stay intact.
  void step(std::vector<at::Tensor>& r, const ImageDrive& d, double alpha) const;

  /// The release's protocol: `steps_zero` steps with a zero image from the zero state, then `steps_image`
  /// steps with `image`.
  std::vector<at::Tensor> simulate(const at::Tensor& image, int steps_zero = 100, int steps_image = 100,
                                   double alpha = 0.2) const;

  /// u_l for every area, all computed from the same states `r` (nothing updated); `inp` undefined = zero.
  std::vector<at::Tensor> preactivations(const std::vector<at::Tensor>& r, const at::Tensor& inp) const;
  /// u_l of one area from the states `r`.
  at::Tensor preactivation(std::int64_t l, const std::vector<at::Tensor>& r, const at::Tensor& inp) const;
  /// x_l, the input of area l before area_area[l] (undefined for l = 0 with an undefined `inp`).
  at::Tensor area_input(std::int64_t l, const std::vector<at::Tensor>& r, const at::Tensor& inp) const;

  /// out_fc(mean_hw(relu(r_last) + relu(r_second_last))) -> [B, classes]. Throws ValueError without out_fc.
  at::Tensor logits(const std::vector<at::Tensor>& r) const;

  /// Area l's recurrent weight area_conv[l] (C, C, k, k), float64 on the CPU (for operators).
  const at::Tensor& recurrent_weight(std::int64_t l) const;
  /// The weights in the run's dtype and device.
  const at::Tensor& area_conv(std::int64_t l) const;
  const at::Tensor& area_area(std::int64_t l) const;
  const at::Tensor& skip_area(std::int64_t i) const;  ///< feeds area 2i+3 from area 2i+1
  const at::Tensor& inp_conv() const noexcept { return inp_conv_; }
  const at::Tensor& inp_skip() const noexcept { return inp_skip_; }
  const at::Tensor& conv_bias(std::int64_t l) const;

 private:
  void check_area(std::int64_t l) const;
  void check_states(const std::vector<at::Tensor>& r) const;

  std::string path_;
  c10::ScalarType dtype_;
  c10::Device device_;
  std::vector<std::int64_t> channels_, heights_, widths_, strides_;
  std::int64_t input_channels_ = 0, drive_channels_ = 0;
  at::Tensor inp_conv_, inp_skip_, fc_weight_, fc_bias_;
  std::vector<at::Tensor> area_conv_, area_area_, skip_area_, bias_, recurrent64_;
};

}  // namespace convdyn::model
