#include "linalg/detail/eigen_tensor.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "linalg/error.hpp"
#include "linalg/linear_operator.hpp"

namespace convdyn::linalg::detail {

Eigen::MatrixXd to_eigen(const at::Tensor& t) {
  CONVDYN_ASSERT(t.dim() == 2, "to_eigen: a 2-D tensor is needed, got {} dimensions", t.dim());
  const auto c = t.to(at::kCPU, at::kDouble).contiguous();
  return Eigen::Map<const RowMajorMatrix>(c.data_ptr<double>(), c.size(0), c.size(1));
}

at::Tensor to_tensor(const Eigen::MatrixXd& m, const at::TensorOptions& options) {
  RowMajorMatrix r = m;
  return at::from_blob(r.data(), {r.rows(), r.cols()}, at::TensorOptions().dtype(at::kDouble))
      .to(options.device(), options.dtype().toScalarType(), /*non_blocking=*/false, /*copy=*/true);
}

at::Tensor transposed_view(const Eigen::MatrixXd& m) {
  return at::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, at::TensorOptions().dtype(at::kDouble));
}

void apply_raw(const LinearOperator& op, const double* x, double* y) {
  const auto n = op.size();
  const at::Tensor xt =
      at::from_blob(const_cast<double*>(x), {n}, at::TensorOptions().dtype(at::kDouble)).to(op.device(), op.dtype());
  const at::Tensor yt = op.apply(xt).to(at::kCPU, at::kDouble).contiguous();
  std::memcpy(y, yt.data_ptr<double>(), static_cast<std::size_t>(n) * sizeof(double));
}

}  // namespace convdyn::linalg::detail
