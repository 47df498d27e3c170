// Float64 CPU 2-D convolution ("same" size, stride 1, odd square kernel) built on BLAS dgemm: the kernel
// behind ConvOperator in float64 on the CPU. Internal to convdyn::linalg.
//
// Replaces at::conv2d for float64 on the CPU, which runs well above the dgemm floor for this operator and
// is slower per image when batched. The weight is packed once in the constructor (it is fixed for
// thousands of applies); apply() only rearranges the input and calls cblas_dgemm.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace convdyn::linalg::detail {

/// How Conv2dF64 evaluates the convolution. Both give the same result up to rounding (see the tests).
enum class Conv2dAlgo {
  /// Chosen per call from the shape and the batch size (see Conv2dF64::algo_for).
  Auto,
  /// im2col over the kernel columns only (k shifted copies of the input), then k GEMMs
  /// [C_out, k C_in] x [k C_in, H W] whose right-hand sides are that buffer offset by whole image rows.
  Direct,
  /// Winograd F(2x2, 3x3), k == 3 only: 16 GEMMs [C_out, C_in] x [C_in, tiles], 2.25x fewer multiplies.
  Winograd,
};

const char* to_string(Conv2dAlgo algo);

/// y = W * x for x of shape (b, C_in, H, W) and W of shape (C_out, C_in, k, k), k odd, stride 1, output
/// (b, C_out, H, W); padding zero (k/2 on each side) or circular (periodic, needs k/2 <= H and <= W).
/// Same result as at::conv2d (cross-correlation, no bias), float64, CPU.
///
/// Thread safety: apply() is const and keeps no state between calls (scratch is allocated per call), so
/// one object may be applied from several threads at once. Threads: OpenBLAS's own in the GEMMs; the
/// copy and transform loops around them run in the calling thread.
class Conv2dF64 {
 public:
  /// weight: (C_out, C_in, k, k), any dtype and device (copied to float64 CPU). Throws ValueError
  /// for an even or non-square kernel, a non-positive grid, circular padding with k/2 > H or W, or
  /// algo == Winograd with k != 3.
  Conv2dF64(const at::Tensor& weight, int64_t height, int64_t width, bool circular,
            Conv2dAlgo algo = Conv2dAlgo::Auto);

  /// x: float64 CPU of shape (b, C_in, H, W), (C_in, H, W), (b, C_in*H*W) or (C_in*H*W); a non-contiguous
  /// x is copied first. Returns a new contiguous tensor of the same shape with C_out for C_in.
  /// Throws ValueError for any other dtype, device or shape.
  at::Tensor apply(const at::Tensor& x) const;

  /// As apply(), into y: float64 CPU contiguous with b*C_out*H*W elements, not overlapping x.
  void apply_out(const at::Tensor& x, at::Tensor& y) const;

  /// Raw form: x holds b images (b, C_in, H, W), y receives (b, C_out, H, W); no overlap, no checks.
  void apply(const double* x, double* y, int64_t batch) const;

  /// The adjoint: the same convolution with W^T[i, o, a, c] = W[o, i, k-1-a, k-1-c] (channels swapped,
  /// kernel flipped) and the same padding, so that <y, W x> = <W^T y, x>.
  Conv2dF64 transposed() const;
  /// That weight, (C_in, C_out, k, k) float64, from a (C_out, C_in, k, k) weight of any dtype.
  static at::Tensor transpose_weight(const at::Tensor& weight);

  /// The algorithm apply() uses for a batch of this size.
  Conv2dAlgo algo_for(int64_t batch) const;

  /// The weight (float64 CPU, (C_out, C_in, k, k)), rebuilt from the packed copy.
  at::Tensor weight() const;

  int64_t in_channels() const { return ci_; }
  int64_t out_channels() const { return co_; }
  int64_t kernel_size() const { return k_; }
  int64_t height() const { return h_; }
  int64_t width() const { return w_; }
  bool circular() const { return circular_; }
  Conv2dAlgo algo() const { return algo_; }

 private:
  void check_input(const at::Tensor& x, int64_t* batch) const;
  void run_direct(const double* x, double* y, int64_t b) const;
  void run_winograd(const double* x, double* y, int64_t b) const;

  int64_t ci_, co_, k_, h_, w_;
  bool circular_;
  Conv2dAlgo algo_;
  // [kh][o][kw][c]: for each kernel row a row-major [C_out, k*C_in] matrix.
  std::vector<double> wd_;
  // Winograd G g G^T, [xi][o][c]: 16 row-major [C_out, C_in] matrices; empty unless k == 3 and algo_ is
  // Auto or Winograd.
  std::vector<double> wu_;
};

}  // namespace convdyn::linalg::detail
