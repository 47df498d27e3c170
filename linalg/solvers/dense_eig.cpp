#include "linalg/solvers/dense_eig.hpp"

#include <ATen/ATen.h>

#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>

#include "linalg/cuda/cusolver_dense_eig.hpp"
#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/residuals.hpp"
#include "linalg/error.hpp"
#include "linalg/linear_operator.hpp"

namespace convdyn::linalg {

namespace {
std::string human_bytes(double b) {
  if (b < 1e6) return fmt::format("{:.0f} kB", b / 1e3);
  if (b < 1e9) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} GB", b / 1e9);
}
std::string human_seconds(double s) {
  if (s < 120) return fmt::format("{:.0f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min", s / 60);
  if (s < 2 * 86400) return fmt::format("{:.1f} h", s / 3600);
  if (s < 2 * 365 * 86400) return fmt::format("{:.0f} days", s / 86400);
  return fmt::format("{:.1f} years", s / (365.0 * 86400));
}
void check_guard(std::int64_t n, const DenseEigOptions& opt) {
  if (n <= opt.max_n) return;
  throw ValueError(fmt::format(
      "dense eigensolve of n={} would need about {}; the limit is n <= {} (use --method krylov-schur, "
      "or raise --max-dense-n)",
      n, dense_cost(n, opt.vectors).describe(), opt.max_n));
}
}  // namespace

std::string DenseCost::describe() const {
  return fmt::format("{} of memory and ~{}", human_bytes(bytes), human_seconds(seconds));
}

DenseCost dense_cost(std::int64_t n, bool vectors) {
  const double nd = static_cast<double>(n);
  DenseCost c;
  // A, Schur form and (with vectors) the real Schur basis and complex eigenvectors.
  c.bytes = 8.0 * nd * nd * (vectors ? 5.0 : 2.0);
  // Golub & Van Loan: ~10 n^3 flops eigenvalues only, ~25 n^3 with vectors; Eigen runs ~1 GFLOP/s here.
  c.seconds = (vectors ? 25.0 : 10.0) * nd * nd * nd / 1e9;
  return c;
}

EigResult dense_eig(const Eigen::MatrixXd& a, const DenseEigOptions& opt) {
  CONVDYN_CHECK(a.rows() == a.cols(), ValueError, "dense eig: matrix is {}x{}, not square", a.rows(),
                a.cols());
  CONVDYN_CHECK(a.allFinite(), ValueError, "dense eig: matrix holds NaN or Inf");
  if (opt.cuda_device >= 0) return dense_eig_cuda(a, opt, opt.cuda_device);
  check_guard(a.rows(), opt);
  const auto t0 = std::chrono::steady_clock::now();
  Eigen::EigenSolver<Eigen::MatrixXd> es(a, opt.vectors);
  EigResult r;
  r.method = "dense";
  r.which = opt.which;
  r.reason = StopReason::NotIterative;
  if (es.info() != Eigen::Success) {
    r.reason = StopReason::NumericalFailure;
    r.message = fmt::format("Eigen's EigenSolver did not converge (n={})", a.rows());
    return r;
  }
  const auto all = es.eigenvalues();
  const auto idx = order_by(all, opt.which);
  const Eigen::Index k = (opt.k <= 0) ? all.size() : std::min<Eigen::Index>(opt.k, all.size());
  r.values.resize(k);
  for (Eigen::Index i = 0; i < k; ++i) r.values[i] = all[idx[static_cast<std::size_t>(i)]];
  if (opt.vectors) {
    const Eigen::MatrixXcd v = es.eigenvectors();
    r.vectors.resize(a.rows(), k);
    for (Eigen::Index i = 0; i < k; ++i) r.vectors.col(i) = v.col(idx[static_cast<std::size_t>(i)]).normalized();
    r.residuals = detail::true_residuals(a, r.values, r.vectors);
  }
  r.converged = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(k, true);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

EigResult dense_eig(const LinearOperator& op, const DenseEigOptions& opt) {
  if (opt.cuda_device >= 0) require_cuda_device(opt.cuda_device);  // fail before the materialisation
  else check_guard(op.size(), opt);
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t n = op.size();
  const std::int64_t matvecs0 = op.matvecs();
  Eigen::MatrixXd a = detail::to_eigen(op.to_dense(std::max(opt.max_n, n)));
  EigResult r = dense_eig(a, opt);
  if (opt.cuda_device < 0 && opt.vectors && r.size() > 0) {
    a = Eigen::MatrixXd();
    r.residuals = detail::true_residuals(op, r.values, r.vectors);  // through the operator itself
  }
  r.matvecs = op.matvecs() - matvecs0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace convdyn::linalg
