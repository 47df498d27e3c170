#include "linalg/operators/conv_operator.hpp"

#include <ATen/ATen.h>

#include <vector>

#include "linalg/error.hpp"
#include "linalg/operators/detail/conv2d_f64.hpp"

namespace convdyn::linalg {

Padding parse_padding(const std::string& s) {
  if (s == "zero") return Padding::Zero;
  if (s == "circular") return Padding::Circular;
  throw ValueError(fmt::format("unknown padding '{}' (expected zero or circular)", s));
}

const char* to_string(Padding p) { return p == Padding::Zero ? "zero" : "circular"; }

namespace {
std::int64_t checked_channels(const at::Tensor& w, std::int64_t h, std::int64_t wd) {
  CONVDYN_CHECK(w.defined(), ValueError, "conv operator: undefined weight");
  CONVDYN_CHECK(w.dim() == 4, ValueError, "conv operator: kernel must be 4-D (out, in, kh, kw), got shape {}",
                fmt::join(w.sizes(), "x"));
  CONVDYN_CHECK(w.size(0) == w.size(1), ValueError,
                "conv operator: kernel {} is not square in channels (out {} != in {})",
                fmt::join(w.sizes(), "x"), w.size(0), w.size(1));
  CONVDYN_CHECK(w.size(2) == w.size(3), ValueError, "conv operator: kernel {}x{} is not square",
                w.size(2), w.size(3));
  CONVDYN_CHECK(w.size(2) % 2 == 1, ValueError,
                "conv operator: even kernel size {} has no centred 'same' padding", w.size(2));
  CONVDYN_CHECK(h > 0 && wd > 0, ValueError, "conv operator: spatial size {}x{} must be positive", h, wd);
  return w.size(0);
}
}  // namespace

ConvOperator::ConvOperator(const at::Tensor& weight, std::int64_t height, std::int64_t width,
                           Padding padding, c10::ScalarType dtype, c10::Device device, ConvBackend backend)
    : LinearOperator(checked_channels(weight, height, width) * height * width, dtype, device),
      channels_(weight.size(0)),
      height_(height),
      width_(width),
      kernel_(weight.size(2)),
      padding_(padding) {
  CONVDYN_CHECK(padding != Padding::Circular || (kernel_ / 2 <= height && kernel_ / 2 <= width), ValueError,
                "conv operator: circular padding of a {}x{} kernel needs H, W >= {}, got {}x{}", kernel_,
                kernel_, kernel_ / 2, height, width);
  weight_ = weight.detach().to(device, dtype).contiguous();
  weight_t_ = weight_.transpose(0, 1).flip({2, 3}).contiguous();
  if (backend == ConvBackend::Auto && device.is_cpu() && dtype == at::kDouble) {
    const bool circular = padding == Padding::Circular;
    f64_ = std::make_unique<const detail::Conv2dF64>(weight_, height, width, circular);
    f64_t_ = std::make_unique<const detail::Conv2dF64>(f64_->transposed());
  }
}

ConvOperator::~ConvOperator() = default;

std::string ConvOperator::describe() const {
  return fmt::format("conv {}x{}x{}x{} on {}x{}, {} padding", channels_, channels_, kernel_, kernel_, height_,
                     width_, to_string(padding_));
}

at::Tensor ConvOperator::conv(const at::Tensor& x, const at::Tensor& w) const {
  const std::int64_t k = x.size(0), p = kernel_ / 2;
  if (k > 1 && x.is_cpu() && x.scalar_type() == at::kDouble) {
    // ConvBackend::LibTorch in float64: LibTorch's CPU conv of a batch of large images is slower per image
    // than one image at a time (im2col of the whole batch leaves the cache; README, "Levers").
    std::vector<at::Tensor> rows;
    rows.reserve(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) rows.push_back(conv(x.narrow(0, i, 1), w));
    return at::cat(rows);
  }
  auto img = x.view({k, channels_, height_, width_});
  // float32 on the CPU: LibTorch sends channels-last inputs to oneDNN, several times faster than its default
  // NCHW path (README, "Levers"); float64 has no oneDNN kernel.
  if (x.is_cpu() && x.scalar_type() == at::kFloat) img = img.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor y;
  if (padding_ == Padding::Zero) {
    y = at::conv2d(img, w, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{p});
  } else {
    y = at::conv2d(at::pad(img, {p, p, p, p}, "circular"), w, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{0});
  }
  return y.contiguous().reshape({k, size()});
}

namespace {
at::Tensor apply_f64(const detail::Conv2dF64& f, const at::Tensor& x) {
  at::Tensor y = at::empty_like(x);
  f.apply(x.data_ptr<double>(), y.data_ptr<double>(), x.size(0));  // x: contiguous (k, n), see LinearOperator
  return y;
}
}  // namespace

at::Tensor ConvOperator::apply_impl(const at::Tensor& x) const { return f64_ ? apply_f64(*f64_, x) : conv(x, weight_); }
at::Tensor ConvOperator::apply_transpose_impl(const at::Tensor& x) const {
  return f64_t_ ? apply_f64(*f64_t_, x) : conv(x, weight_t_);
}

}  // namespace convdyn::linalg
