#include "linalg/operators/same_conv_operator.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"

namespace convdyn::linalg {

SamePadding same_padding(std::int64_t k) {
  CONVDYN_CHECK(k > 0, ValueError, "same padding: kernel size {} must be positive", k);
  const std::int64_t before = (k - 1) / 2;
  return {before, k - 1 - before};
}

at::Tensor conv2d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, std::int64_t groups) {
  const auto ph = same_padding(weight.size(2)), pw = same_padding(weight.size(3));
  const c10::optional<at::Tensor> b = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  if (ph.before == ph.after && pw.before == pw.after) {
    return at::conv2d(x, weight, b, at::IntArrayRef{1}, at::IntArrayRef{ph.before, pw.before},
                      at::IntArrayRef{1}, groups);
  }
  auto padded = at::constant_pad_nd(x, {pw.before, pw.after, ph.before, ph.after}, 0);
  return at::conv2d(padded, weight, b, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, groups);
}

namespace {
std::int64_t checked_n(const at::Tensor& w, std::int64_t h, std::int64_t wd, const std::string& name) {
  CONVDYN_CHECK(w.defined() && w.dim() == 4, ValueError, "same conv operator {}: kernel must be 4-D (out, in, kh, kw)",
                name);
  CONVDYN_CHECK(w.size(0) == w.size(1), ValueError,
                "same conv operator {}: kernel {} is not square in channels (out {} != in {})", name,
                fmt::join(w.sizes(), "x"), w.size(0), w.size(1));
  CONVDYN_CHECK(h > 0 && wd > 0, ValueError, "same conv operator {}: spatial size {}x{} must be positive", name, h,
                wd);
  return w.size(0) * h * wd;
}
}  // namespace

SameConvOperator::SameConvOperator(const at::Tensor& weight, std::int64_t height, std::int64_t width,
                                   std::string name, c10::ScalarType dtype, c10::Device device)
    : LinearOperator(checked_n(weight, height, width, name), dtype, device),
      channels_(weight.size(0)),
      height_(height),
      width_(width),
      name_(std::move(name)) {
  weight_ = weight.detach().to(device, dtype).contiguous();
  weight_t_ = weight_.transpose(0, 1).flip({2, 3}).contiguous();
}

std::string SameConvOperator::describe() const {
  return fmt::format("{}{}conv {}x{}x{}x{} on {}x{}, TF 'SAME' zero padding", name_, name_.empty() ? "" : ": ",
                     channels_, channels_, weight_.size(2), weight_.size(3), height_, width_);
}

at::Tensor SameConvOperator::apply_impl(const at::Tensor& x) const {
  const std::int64_t k = x.size(0);
  return conv2d_same(x.view({k, channels_, height_, width_}), weight_).reshape({k, size()});
}

at::Tensor SameConvOperator::apply_transpose_impl(const at::Tensor& x) const {
  const std::int64_t k = x.size(0);
  const auto ph = same_padding(weight_.size(2)), pw = same_padding(weight_.size(3));
  // Swapped padding: (after, before).
  auto padded = at::constant_pad_nd(x.view({k, channels_, height_, width_}), {pw.after, pw.before, ph.after, ph.before}, 0);
  return at::conv2d(padded, weight_t_).reshape({k, size()});
}

}  // namespace convdyn::linalg
