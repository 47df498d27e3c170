#include "linalg/linear_operator.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"

namespace convdyn::linalg {

LinearOperator::LinearOperator(std::int64_t n, c10::ScalarType dtype, c10::Device device)
    : n_(n), dtype_(dtype), device_(device) {
  CONVDYN_CHECK(n > 0, ValueError, "linear operator: size n={} must be positive", n);
  CONVDYN_CHECK(dtype == at::kDouble || dtype == at::kFloat, ValueError,
                "linear operator: dtype {} not supported (float64 or float32)", c10::toString(dtype));
}

at::Tensor LinearOperator::checked_block(const at::Tensor& x, const char* what) const {
  CONVDYN_CHECK(x.defined(), ValueError, "{}: undefined input tensor", what);
  CONVDYN_CHECK(x.dim() == 1 || x.dim() == 2, ValueError,
                "{}: input must be (n) or (k, n), got {} dimensions", what, x.dim());
  CONVDYN_CHECK(x.size(-1) == n_, ValueError, "{}: input length {} does not match operator size {}",
                what, x.size(-1), n_);
  CONVDYN_CHECK(x.scalar_type() == dtype_, ValueError, "{}: input dtype {} does not match operator dtype {}",
                what, c10::toString(x.scalar_type()), c10::toString(dtype_));
  CONVDYN_CHECK(x.device() == device_, ValueError, "{}: input on {} but operator on {}", what,
                x.device().str(), device_.str());
  return x.reshape({-1, n_}).contiguous();
}

at::Tensor LinearOperator::apply(const at::Tensor& x) const {
  auto block = checked_block(x, "apply");
  auto y = apply_impl(block);
  CONVDYN_ASSERT(y.dim() == 2 && y.size(0) == block.size(0) && y.size(1) == n_,
                 "apply_impl of '{}' returned a wrongly shaped result", describe());
  matvecs_ += block.size(0);
  return x.dim() == 1 ? y.reshape({n_}) : y;
}

at::Tensor LinearOperator::apply_transpose(const at::Tensor& x) const {
  CONVDYN_CHECK(has_transpose(), ValueError, "operator '{}' has no transpose", describe());
  auto block = checked_block(x, "apply_transpose");
  auto y = apply_transpose_impl(block);
  matvecs_ += block.size(0);
  return x.dim() == 1 ? y.reshape({n_}) : y;
}

at::Tensor LinearOperator::apply_transpose_impl(const at::Tensor&) const {
  throw ValueError(fmt::format("operator '{}' has no transpose", describe()));
}

at::Tensor LinearOperator::to_dense(std::int64_t max_n, std::int64_t block) const {
  CONVDYN_CHECK(n_ <= max_n, ValueError,
                "to_dense: n={} exceeds the limit {} (the dense matrix would need {:.1f} GB)", n_, max_n,
                8.0 * static_cast<double>(n_) * static_cast<double>(n_) / 1e9);
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  auto dense = at::empty({n_, n_}, at::TensorOptions().dtype(at::kDouble));
  for (std::int64_t j0 = 0; j0 < n_; j0 += block) {
    const std::int64_t b = std::min(block, n_ - j0);
    auto e = at::zeros({b, n_}, opts);
    e.narrow(1, j0, b).copy_(at::eye(b, opts));
    // Row i of apply(e) is A e_{j0+i}, i.e. column j0+i of A.
    auto cols = apply(e).to(at::kCPU, at::kDouble);
    dense.narrow(1, j0, b).copy_(cols.t());
  }
  return dense;
}

}  // namespace convdyn::linalg
