// Symmetric operators derived from an operator A with a transpose: A^T A and (A + A^T)/2.
//
// Their largest eigenvalues give the certificates of the stability analysis: ||A||_2 = sqrt(lambda_max(A^T A))
// and the numerical abscissa omega(A) = lambda_max((A + A^T)/2). Both are symmetric, so a Krylov method on
// them is Lanczos (with full reorthogonalisation) and the Ritz values are real.
#pragma once
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::linalg {

/// y = A^T A x. Requires a.has_transpose(); `a` must outlive this operator.
class GramOperator final : public LinearOperator {
 public:
  explicit GramOperator(const LinearOperator& a);
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override { return apply_impl(x); }
  const LinearOperator& a_;
};

/// y = (A x + A^T x) / 2. Requires a.has_transpose(); `a` must outlive this operator.
class SymmetricPartOperator final : public LinearOperator {
 public:
  explicit SymmetricPartOperator(const LinearOperator& a);
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override { return apply_impl(x); }
  const LinearOperator& a_;
};

/// Largest eigenvalue of a symmetric operator with its residual, by Krylov-Schur (= thick-restart Lanczos
/// on a symmetric operator). `converged` follows EigResult's definition.
struct SymmetricExtreme {
  double value = 0.0;
  double residual = 0.0;
  bool converged = false;
  std::int64_t matvecs = 0;
};
SymmetricExtreme largest_symmetric_eigenvalue(const LinearOperator& sym, double tol = 1e-10,
                                              int max_restarts = 1000, const KrylovSchurExtras& extras = {});

}  // namespace convdyn::linalg
