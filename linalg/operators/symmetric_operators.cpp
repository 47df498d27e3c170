#include "linalg/operators/symmetric_operators.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::linalg {

namespace {
const LinearOperator& with_transpose(const LinearOperator& a, const char* what) {
  CONVDYN_CHECK(a.has_transpose(), ValueError, "{}: operator '{}' has no transpose", what, a.describe());
  return a;
}
}  // namespace

GramOperator::GramOperator(const LinearOperator& a)
    : LinearOperator(a.size(), a.dtype(), a.device()), a_(with_transpose(a, "A^T A")) {}
std::string GramOperator::describe() const { return "A^T A of " + a_.describe(); }
at::Tensor GramOperator::apply_impl(const at::Tensor& x) const { return a_.apply_transpose(a_.apply(x)); }

SymmetricPartOperator::SymmetricPartOperator(const LinearOperator& a)
    : LinearOperator(a.size(), a.dtype(), a.device()), a_(with_transpose(a, "(A + A^T)/2")) {}
std::string SymmetricPartOperator::describe() const { return "(A + A^T)/2 of " + a_.describe(); }
at::Tensor SymmetricPartOperator::apply_impl(const at::Tensor& x) const {
  return (a_.apply(x) + a_.apply_transpose(x)) * 0.5;
}

SymmetricExtreme largest_symmetric_eigenvalue(const LinearOperator& sym, double tol, int max_restarts,
                                              const KrylovSchurExtras& extras) {
  KrylovSchurOptions o;
  static_cast<KrylovSchurExtras&>(o) = extras;
  o.which = Which::LR;
  o.tol = tol;
  o.max_restarts = max_restarts;
  // A symmetric spectrum is real: ask for two so the solver has a gap to converge against.
  o.k = std::min<std::int64_t>(2, sym.size() - 2);
  CONVDYN_CHECK(o.k >= 1, ValueError, "largest eigenvalue: operator too small (n={})", sym.size());
  const auto r = krylov_schur(sym, o);
  SymmetricExtreme out;
  out.value = r.values[0].real();
  out.residual = r.residuals.size() ? r.residuals[0] : 0.0;
  out.converged = r.converged.size() && r.converged[0];
  out.matvecs = r.matvecs;
  return out;
}

}  // namespace convdyn::linalg
