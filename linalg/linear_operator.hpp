// Matrix-free linear operator on LibTorch tensors (CPU or CUDA).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

namespace convdyn::linalg {

/// A square n x n real operator A applied to blocks of vectors.
///
/// Layout: a block of k vectors is a (k, n) tensor, one vector per row, contiguous; a single vector may
/// be given as a 1-D tensor of length n. This is the natural batch layout of a convolution (k, C, H, W)
/// and lets a Krylov basis V (m, n) be combined with one GEMM.
///
/// `apply` is non-virtual: it validates shape, dtype and device once, then calls `apply_impl` on a
/// contiguous (k, n) block.
class LinearOperator {
 public:
  LinearOperator(std::int64_t n, c10::ScalarType dtype, c10::Device device);
  virtual ~LinearOperator() = default;
  LinearOperator(const LinearOperator&) = delete;
  LinearOperator& operator=(const LinearOperator&) = delete;

  std::int64_t rows() const noexcept { return n_; }
  std::int64_t cols() const noexcept { return n_; }
  std::int64_t size() const noexcept { return n_; }
  c10::ScalarType dtype() const noexcept { return dtype_; }
  c10::Device device() const noexcept { return device_; }
  /// Short human-readable description, e.g. "conv 4x4x3x3 on 8x8, zero padding".
  virtual std::string describe() const = 0;

  /// y = A x for x of shape (n) or (k, n); returns a tensor of the same shape.
  at::Tensor apply(const at::Tensor& x) const;

  /// Whether `apply_transpose` is available (y = A^T x).
  virtual bool has_transpose() const { return false; }
  /// y = A^T x, same conventions as `apply`; throws ValueError when `has_transpose()` is false.
  at::Tensor apply_transpose(const at::Tensor& x) const;

  /// Number of operator-vector products performed so far (a block of k counts k).
  std::int64_t matvecs() const noexcept { return matvecs_; }

  /// The dense n x n matrix (float64, CPU), materialised by applying A to blocks of identity columns.
  /// Throws ValueError when n exceeds `max_n` (memory n^2 * 8 bytes).
  at::Tensor to_dense(std::int64_t max_n = 20000, std::int64_t block = 256) const;

 protected:
  /// x: contiguous (k, n) block of `dtype()` on `device()`. Must return a (k, n) tensor.
  virtual at::Tensor apply_impl(const at::Tensor& x) const = 0;
  virtual at::Tensor apply_transpose_impl(const at::Tensor& x) const;

 private:
  at::Tensor checked_block(const at::Tensor& x, const char* what) const;
  std::int64_t n_;
  c10::ScalarType dtype_;
  c10::Device device_;
  mutable std::int64_t matvecs_ = 0;
};

}  // namespace convdyn::linalg
