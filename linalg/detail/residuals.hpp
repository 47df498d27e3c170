// True eigen-residuals ||A v - lambda v|| / ||v||: the one definition every solver reports (EigResult::
// residuals). Complex vectors of a real operator are handled as real rows (Re v, Im v), so the operator
// only ever sees real blocks. Internal to convdyn::linalg.
#pragma once
#include <Eigen/Core>

#include <vector>

namespace at {
class Tensor;
}
namespace convdyn::linalg {
class LinearOperator;
}

namespace convdyn::linalg::detail {

/// Where a (possibly complex) vector sits in a block of real rows: v = row(re) + i row(im); im < 0 for a
/// real vector.
struct RealRows {
  Eigen::Index re = 0, im = -1;
};

/// Residuals of the pairs (values(j), v_j), v_j given by rows[j] in X (r, n), from X and AX = A X (r, n)
/// of any dtype and device: ||A v_j - lambda_j v_j|| / ||v_j|| (computed on X's device as R = AX - C X,
/// C the r x r real form of the eigenvalues; one host transfer). \pre no row belongs to two pairs.
Eigen::VectorXd pair_residuals(const at::Tensor& X, const at::Tensor& AX, const Eigen::VectorXcd& values,
                               const std::vector<RealRows>& rows);

/// The real rows of the columns of `vectors` (n x k): one row for a real column, two (Re, Im) otherwise.
struct RealBlock {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> X;  ///< (r, n)
  std::vector<RealRows> rows;                                                 ///< per column
};
RealBlock split_real(const Eigen::MatrixXcd& vectors);

/// Residuals of (values(j), vectors.col(j)) through `op` (one apply of the real block, in op's dtype on
/// op's device), evaluated in double precision. The vectors are measured as the operator sees them, i.e.
/// rounded to its dtype.
Eigen::VectorXd true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values,
                               const Eigen::MatrixXcd& vectors);

/// The same against a dense host matrix `a` (n x n), with real GEMMs (no complex copy of `a`).
Eigen::VectorXd true_residuals(const Eigen::MatrixXd& a, const Eigen::VectorXcd& values,
                               const Eigen::MatrixXcd& vectors);

}  // namespace convdyn::linalg::detail
