// A square multi-channel convolution with TensorFlow 'SAME' padding, even kernels included, as a
// matrix-free operator.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

#include "linalg/linear_operator.hpp"

namespace convdyn::linalg {

/// TF 'SAME' zero padding of a k-tap kernel at stride 1: `before` rows/columns before the image, `after`
/// after it, before = (k - 1) / 2, after = k - 1 - before (2x2: 0 and 1; 3x3: 1 and 1; 4x4: 1 and 2).
struct SamePadding {
  std::int64_t before, after;
};
SamePadding same_padding(std::int64_t k);

/// y = W * x with a C x C x kh x kw kernel (out, in, kh, kw), stride 1, TF 'SAME' zero padding. For odd
/// kernels this is ConvOperator with zero padding; even kernels (the zoo's lstm_shallow uses 2x2
/// and 4x4) pad asymmetrically, which ConvOperator does not support, hence this separate class. The
/// vector layout is x.view(C, H, W) flattened in C order: n = C*H*W.
///
/// Transpose: the adjoint of "pad (before, after) then valid correlation with W" is "pad (after, before)
/// then valid correlation with W flipped spatially and with in/out channels swapped".
class SameConvOperator final : public LinearOperator {
 public:
  /// `weight` is converted to `dtype` on `device`. Throws ValueError for a non-4-D kernel, C_out != C_in,
  /// or non-positive H, W. `name` is used in describe() (e.g. "conv4/gates/r/h").
  SameConvOperator(const at::Tensor& weight, std::int64_t height, std::int64_t width, std::string name = {},
                   c10::ScalarType dtype = c10::ScalarType::Double,
                   c10::Device device = c10::Device(c10::DeviceType::CPU));

  std::int64_t channels() const noexcept { return channels_; }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  const at::Tensor& weight() const noexcept { return weight_; }
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;

  at::Tensor weight_, weight_t_;
  std::int64_t channels_, height_, width_;
  std::string name_;
};

/// conv2d of a (B, Cin, H, W) image with an OIHW kernel, stride 1, TF 'SAME' zero padding (asymmetric for
/// even kernels), optional bias (undefined = none), `groups` as at::conv2d. Output (B, Cout, H, W).
at::Tensor conv2d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {},
                       std::int64_t groups = 1);

}  // namespace convdyn::linalg
