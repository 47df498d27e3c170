// A square multi-channel convolution as a matrix-free operator.
#pragma once
#include <memory>

#include "linalg/linear_operator.hpp"

namespace convdyn::linalg {

namespace detail {
class Conv2dF64;
}

enum class Padding { Zero, Circular };
/// Which implementation applies the conv: Auto = detail::Conv2dF64 in float64 on the CPU, else LibTorch;
/// LibTorch = at::conv2d always (the reference, and the bench's "before" row).
enum class ConvBackend { Auto, LibTorch };
Padding parse_padding(const std::string& s);  // "zero" | "circular"
const char* to_string(Padding p);

/// y = W * x: conv2d of a C-channel H x W image with a C x C x k x k kernel (out, in, kh, kw), stride 1,
/// odd k, "same" output size; zero padding (the CordsNet recurrent conv) or circular padding.
/// The vector layout is x.view(C, H, W) flattened in C order: n = C*H*W.
///
/// Float64 on the CPU runs through detail::Conv2dF64 (BLAS dgemm, Winograd for 3x3 kernels: LibTorch's
/// float64 CPU conv is well above the dgemm floor and slower per image when batched); float32 and CUDA
/// through LibTorch (oneDNN channels-last on the CPU, cuDNN on a GPU).
class ConvOperator final : public LinearOperator {
 public:
  /// `weight` is converted to `dtype` on `device`. Throws ValueError for a non-4-D, non-square
  /// (C_out != C_in), non-square-kernel or even kernel, or non-positive H, W.
  ConvOperator(const at::Tensor& weight, std::int64_t height, std::int64_t width,
               Padding padding = Padding::Zero, c10::ScalarType dtype = c10::ScalarType::Double,
               c10::Device device = c10::Device(c10::DeviceType::CPU), ConvBackend backend = ConvBackend::Auto);
  ~ConvOperator() override;

  std::int64_t channels() const noexcept { return channels_; }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  std::int64_t kernel_size() const noexcept { return kernel_; }
  Padding padding() const noexcept { return padding_; }
  const at::Tensor& weight() const noexcept { return weight_; }
  std::string describe() const override;

  /// Transpose of a stride-1 conv: conv with the kernel flipped spatially and channels swapped.
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;
  at::Tensor conv(const at::Tensor& x, const at::Tensor& w) const;

  at::Tensor weight_, weight_t_;
  std::unique_ptr<const detail::Conv2dF64> f64_, f64_t_;  // the float64 CPU kernels (else null)
  std::int64_t channels_, height_, width_, kernel_;
  Padding padding_;
};

}  // namespace convdyn::linalg
