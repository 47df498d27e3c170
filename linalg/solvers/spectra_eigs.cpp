#include "linalg/solvers/spectra_eigs.hpp"

// GCC 12 reports a false -Wuse-after-free inside Spectra's UpperHessenbergEigen (Eigen temporaries).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#include <Spectra/GenEigsSolver.h>

#include <chrono>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/random.hpp"
#include "linalg/solvers/detail/ritz_pairs.hpp"

namespace convdyn::linalg {

namespace {
Spectra::SortRule sort_rule(Which w) {
  switch (w) {
    case Which::LM: return Spectra::SortRule::LargestMagn;
    case Which::LR: return Spectra::SortRule::LargestReal;
    case Which::SR: return Spectra::SortRule::SmallestReal;
    case Which::SM: return Spectra::SortRule::SmallestMagn;
    case Which::LI: return Spectra::SortRule::LargestImag;
  }
  return Spectra::SortRule::LargestMagn;
}

/// GenEigsSolver that also hands out the k Ritz pairs it did not count as converged (Spectra's
/// eigenvalues()/eigenvectors() return only its converged ones).
class GenEigsAllPairs : public Spectra::GenEigsSolver<SpectraOperator> {
  using Base = Spectra::GenEigsSolver<SpectraOperator>;

 public:
  using Base::Base;
  Eigen::VectorXcd all_values() const { return this->m_ritz_val.head(this->m_nev); }
  Eigen::MatrixXcd all_vectors() const { return this->m_fac.matrix_V() * this->m_ritz_vec.leftCols(this->m_nev); }
};
}  // namespace

void SpectraOperator::perform_op(const double* x_in, double* y_out) const { detail::apply_raw(op_, x_in, y_out); }

EigResult spectra_eigs(const LinearOperator& op, const SpectraOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t matvecs0 = op.matvecs();
  const std::int64_t n = op.size();
  check_eig_options("spectra", n, opt);
  SpectraOperator sop(op);
  GenEigsAllPairs solver(sop, opt.k, detail::second_opinion_ncv(opt, n));
  const Eigen::VectorXd start = detail::normal_vector(n, opt.seed);
  solver.init(start.data());
  const auto rule = sort_rule(opt.which);
  solver.compute(rule, opt.max_restarts, opt.tol, rule);

  EigResult out;
  detail::finish_with_true_residuals(op, solver.all_values(), solver.all_vectors(), opt, out);
  out.method = "spectra";
  out.matvecs = op.matvecs() - matvecs0;
  out.restarts = solver.num_iterations();
  out.reason = out.all_converged() && out.size() == opt.k ? StopReason::Converged : StopReason::MaxRestarts;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace convdyn::linalg
