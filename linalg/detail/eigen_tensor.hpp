// Copies between LibTorch tensors and Eigen matrices, and one operator apply on raw CPU doubles: the glue
// between the solvers' host-side linear algebra (Eigen, Spectra, ARPACK) and operators on any device.
// Internal to convdyn::linalg.
#pragma once
#include <ATen/core/Tensor.h>
#include <Eigen/Core>

namespace convdyn::linalg {
class LinearOperator;
}

namespace convdyn::linalg::detail {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A 2-D tensor of any dtype and device as a host double matrix (same rows and columns; a copy).
Eigen::MatrixXd to_eigen(const at::Tensor& t);

/// The host matrix `m` as a (rows, cols) tensor with `options`' dtype and device (a copy).
at::Tensor to_tensor(const Eigen::MatrixXd& m, const at::TensorOptions& options);

/// The column-major host matrix `m` seen as a row-major CPU double tensor of shape (cols, rows), i.e. m^T,
/// without a copy. \pre `m` outlives the tensor.
at::Tensor transposed_view(const Eigen::MatrixXd& m);

/// y = A x for one vector of op.size() doubles on the host, through the operator's dtype and device (the
/// operator contract of Spectra and ARPACK's reverse communication). One call is one matvec.
void apply_raw(const LinearOperator& op, const double* x, double* y);

}  // namespace convdyn::linalg::detail
