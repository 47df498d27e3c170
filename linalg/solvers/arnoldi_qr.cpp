#include "linalg/solvers/arnoldi_qr.hpp"

#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include <chrono>
#include <cmath>
#include <limits>

#include "linalg/error.hpp"
#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/random.hpp"
#include "linalg/solvers/detail/ritz_pairs.hpp"

namespace convdyn::linalg {

namespace {
using Eigen::Index;
using cd = std::complex<double>;

/// `iters` unshifted QR iterations H <- R Q, then the eigenvalues, all in precision S.
template <class S>
Eigen::VectorXcd qr_then_eig(const Eigen::MatrixXd& H0, int iters) {
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  Mat H = H0.cast<S>();
  Eigen::HouseholderQR<Mat> qr(H.rows(), H.cols());
  for (int it = 0; it < iters; ++it) {
    qr.compute(H);
    H = qr.matrixQR().template triangularView<Eigen::Upper>();
    H.applyOnTheRight(qr.householderQ());
  }
  Eigen::EigenSolver<Mat> es(H, /*computeEigenvectors=*/false);
  return es.eigenvalues().template cast<cd>();
}
}  // namespace

EigResult arnoldi_qr(const LinearOperator& op, const ArnoldiQrOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t matvecs0 = op.matvecs();
  const std::int64_t n = op.size();
  CONVDYN_CHECK(opt.steps >= 1, ValueError, "arnoldi-qr: steps={} must be >= 1", opt.steps);
  const std::int64_t m = std::min(opt.steps, n);
  CONVDYN_CHECK(opt.k >= 1 && opt.k <= m, ValueError, "arnoldi-qr: k={} must be in [1, min(steps, n)]=[1, {}]",
                opt.k, m);
  CONVDYN_CHECK(opt.qr_iters >= 0, ValueError, "arnoldi-qr: qr_iters={} must be >= 0", opt.qr_iters);
  CONVDYN_CHECK(opt.tol > 0.0 && opt.tol < 1.0, ValueError, "arnoldi-qr: tol={} must be in (0, 1)", opt.tol);

  // Uniform [0, 1) start, normalised in the operator's precision.
  const auto topt = at::TensorOptions().dtype(op.dtype()).device(op.device());
  at::Tensor V = at::zeros({m + 1, n}, topt);
  {
    const at::Tensor x = detail::uniform_vector(n, opt.seed, topt);
    V[0].copy_(x / x.norm());
  }

  // Plain Arnoldi, modified Gram-Schmidt one vector at a time, no reorthogonalisation.
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(m + 1, m);
  std::int64_t steps = m;
  bool stopped_early = false;
  for (std::int64_t j = 0; j < m; ++j) {
    at::Tensor w = op.apply(V[j]);
    for (std::int64_t i = 0; i <= j; ++i) {
      const at::Tensor h = at::dot(V[i], w);
      H(i, j) = h.item<double>();
      w.sub_(V[i], H(i, j));  // w -= h_ij v_i, in the operator's precision
    }
    const at::Tensor hn = w.norm();
    H(j + 1, j) = hn.item<double>();
    if (H(j + 1, j) == 0.0) {  // exact breakdown: stop rather than divide by zero
      steps = j + 1;
      stopped_early = j + 1 < m;
      break;
    }
    V[j + 1].copy_(w / hn);
  }
  const Eigen::MatrixXd Hm = H.topLeftCorner(steps, steps);

  // Unshifted QR iterations and the dense eig of the result, in the operator's precision.
  const Eigen::VectorXcd theta = op.dtype() == at::kDouble ? qr_then_eig<double>(Hm, opt.qr_iters)
                                                           : qr_then_eig<float>(Hm, opt.qr_iters);
  const auto order = order_by(theta, opt.which);
  const Index kk = std::min<Index>(opt.k, theta.size());
  Eigen::VectorXcd values(kk);
  for (Index i = 0; i < kk; ++i) values(i) = theta(order[static_cast<std::size_t>(i)]);

  // Our addition: Ritz vectors from the ORIGINAL Hessenberg (nearest eigenvalue), true residuals.
  Eigen::EigenSolver<Eigen::MatrixXd> es0(Hm, /*computeEigenvectors=*/true);
  const Eigen::VectorXcd mu = es0.eigenvalues();
  Eigen::MatrixXd Yr(kk, steps), Yi(kk, steps);  // row i: coefficients of Ritz vector i
  for (Index i = 0; i < kk; ++i) {
    Index best = 0;
    double dist = std::numeric_limits<double>::infinity();
    for (Index j = 0; j < mu.size(); ++j) {
      const double d = std::abs(mu(j) - values(i));
      if (d < dist) dist = d, best = j;
    }
    Yr.row(i) = es0.eigenvectors().col(best).real().transpose();
    Yi.row(i) = es0.eigenvectors().col(best).imag().transpose();
  }
  Eigen::MatrixXd Y(2 * kk, steps);
  Y << Yr, Yi;
  const Eigen::MatrixXd X = detail::to_eigen(at::mm(detail::to_tensor(Y, topt), V.narrow(0, 0, steps)));
  Eigen::MatrixXcd vectors(n, kk);
  for (Index i = 0; i < kk; ++i)
    vectors.col(i) = X.row(i).transpose().cast<cd>() + cd(0.0, 1.0) * X.row(kk + i).transpose().cast<cd>();
  V = at::Tensor();  // release the basis before the post-check

  EigResult out;
  EigOptions report = opt;
  report.k = kk;
  detail::finish_with_true_residuals(op, values, vectors, report, out);
  out.method = "arnoldi-qr";
  out.matvecs = op.matvecs() - matvecs0;
  out.restarts = 0;
  out.reason = out.all_converged() && out.size() == opt.k ? StopReason::Converged
               : stopped_early                            ? StopReason::Breakdown
                                                          : StopReason::MaxRestarts;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace convdyn::linalg
