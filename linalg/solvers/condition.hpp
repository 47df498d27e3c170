// Eigenvalue condition numbers and first-order error bounds: what a residual says about an eigenvalue's digits.
//
// A pair (lambda, x) with residual r = ||A x - lambda x|| (||x|| = 1) is exact for a matrix A + E with ||E|| = r,
// so |lambda - lambda_exact| <= kappa(lambda) r + O(r^2), where kappa(lambda) = ||x|| ||y|| / |y^H x| and y is the
// left eigenvector (y^H A = lambda y^H). For a normal operator kappa = 1; for these non-normal convolutions it
// can be large, and a verdict taken from a margin smaller than the bound is not certain.
#pragma once
#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/solve.hpp"

namespace convdyn::linalg {

/// y = A^T x for an operator with a transpose (ValueError otherwise); `a` must outlive this operator.
class TransposedOperator final : public LinearOperator {
 public:
  explicit TransposedOperator(const LinearOperator& a);
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override { return a_.apply_transpose(x); }
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override { return a_.apply(x); }
  const LinearOperator& a_;
};

/// Sets right.condition and right.error_bound for every pair of `right`, which must hold its eigenvectors.
/// The left vectors come from the same method and options as `opt` (with vectors) on A^T, for k + 2
/// eigenvalues (so that a conjugate partner at the k-th place is not cut off); each right eigenvalue is
/// matched to the nearest left one. A pair gets NaN (unmatched) when no left value lies within
/// `match_tol * max(1, |lambda|)`, when two do (a cluster or a multiple eigenvalue: its condition is not the
/// one of a simple eigenvalue), or when y^H x = 0. Matrix-vector products of the left solve are added to
/// right.matvecs. Returns the number of unmatched pairs.
std::int64_t add_condition_numbers(const LinearOperator& op, EigResult& right, const SolveOptions& opt,
                                   double match_tol = 1e-6);

}  // namespace convdyn::linalg
