// Transient growth of a discrete linear map x_{t+1} = A x_t: the largest amplification max_t ||A^t||_2.
//
// A stable map (rho(A) < 1) can still amplify some perturbations for a while when A is non-normal; the peak of
// ||A^t||_2 says how far, and when. Matrix-free: ||A^t||_2 is the square root of the largest eigenvalue of
// (A^t)^T A^t, by Lanczos (Krylov-Schur on a symmetric operator) through t products with A and t with A^T.
#pragma once
#include <cstdint>
#include <vector>

#include "linalg/linear_operator.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::linalg {

/// y = (A^p)^T A^p x. Requires a.has_transpose() and p >= 1; `a` must outlive this operator.
class PowerGramOperator final : public LinearOperator {
 public:
  PowerGramOperator(const LinearOperator& a, std::int64_t p);
  std::string describe() const override;
  bool has_transpose() const override { return true; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override { return apply_impl(x); }
  const LinearOperator& a_;
  std::int64_t p_;
};

struct TransientGrowthOptions {
  std::int64_t max_steps = 512;  ///< largest t examined (the peak of a slowly decaying map may lie beyond)
  double tol = 1e-8;             ///< residual tolerance of each ||A^t||_2 (relative, as in EigResult)
  int max_restarts = 1000;
  KrylovSchurExtras extras;      ///< of every norm solve (progress hooks, a start vector)
};

struct TransientGrowth {
  double peak = 1.0;            ///< max over the examined t >= 0 of ||A^t||_2 (t = 0 gives 1)
  std::int64_t peak_step = 0;   ///< the t attaining it
  /// The peak is at t = max_steps, still growing there: the true maximum may be larger (or unbounded).
  bool peak_at_limit = false;
  bool converged = true;        ///< every norm solve converged (else the values are estimates)
  std::int64_t matvecs = 0;     ///< products with A or A^T
  std::vector<std::int64_t> steps;  ///< every t evaluated, ascending
  std::vector<double> norms;        ///< ||A^t||_2 at those t
};

/// max_t ||A^t||_2 over 0 <= t <= opt.max_steps. ||A||_2 <= 1 ends at once (then ||A^t|| <= ||A||^t <= 1: peak
/// 1 at t = 0). Otherwise t doubles (1, 2, 4, ...) until ||A^t|| falls below its value at t/2 (past the peak)
/// or t reaches max_steps, and the peak is then located between the neighbours of the largest value: every
/// integer there when few, else by golden-section search (the curve of a non-normal stable map rises once and
/// decays; a curve with several humps in that bracket may hide a slightly larger value). Needs
/// a.has_transpose() and n >= 3.
TransientGrowth transient_growth(const LinearOperator& a, const TransientGrowthOptions& opt = {});

}  // namespace convdyn::linalg
