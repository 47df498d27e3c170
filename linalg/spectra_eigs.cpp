#include "linalg/spectra_eigs.hpp"

#include <ATen/ATen.h>
// GCC 12 reports a false -Wuse-after-free inside Spectra's UpperHessenbergEigen (Eigen temporaries).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#include <Spectra/GenEigsSolver.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "linalg/error.hpp"

namespace convdyn::linalg {

namespace {
using Eigen::Index;
using cd = std::complex<double>;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

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
  Eigen::MatrixXcd all_vectors() const {
    return this->m_fac.matrix_V() * this->m_ritz_vec.leftCols(this->m_nev);
  }
};
}  // namespace

void SpectraOperator::perform_op(const double* x_in, double* y_out) const {
  const auto n = op_.size();
  const at::Tensor x = at::from_blob(const_cast<double*>(x_in), {n}, at::TensorOptions().dtype(at::kDouble))
                           .to(op_.device(), op_.dtype());
  const at::Tensor y = op_.apply(x).to(at::kCPU, at::kDouble).contiguous();
  std::memcpy(y_out, y.data_ptr<double>(), static_cast<std::size_t>(n) * sizeof(double));
}

namespace detail {

Eigen::VectorXd normal_start(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::VectorXd v(n);
  for (Index i = 0; i < n; ++i) v(i) = normal(gen);
  return v;
}

std::int64_t auto_ncv(std::int64_t ncv, std::int64_t k, std::int64_t n) {
  return ncv == 0 ? std::min<std::int64_t>(std::max<std::int64_t>(2 * k + 1, k + 20), n) : ncv;
}

void finish_with_true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values_in,
                                const Eigen::MatrixXcd& vectors_in, Which which, std::int64_t k, double tol,
                                bool keep_vectors, EigResult& out) {
  const Index n = op.size();
  CONVDYN_ASSERT(vectors_in.rows() == n && vectors_in.cols() == values_in.size(),
                 "vectors {}x{} for {} values of n={}", vectors_in.rows(), vectors_in.cols(), values_in.size(), n);
  // A real operator: (conj lambda, conj v) is a pair as good as (lambda, v). Add the missing partners so
  // that order_by's convention holds whatever the solver handed out (the k-th value, when it is the first
  // of a pair, is the one with positive imaginary part, as in dense and krylov-schur).
  std::vector<Index> partner_of;
  for (Index i = 0; i < values_in.size(); ++i) {
    const cd z = values_in(i);
    if (z.imag() == 0.0) continue;
    bool found = false;
    for (Index j = 0; j < values_in.size() && !found; ++j)
      found = j != i && std::abs(values_in(j) - std::conj(z)) <= 1e-10 * std::max(1.0, std::abs(z));
    if (!found) partner_of.push_back(i);
  }
  const Index m0 = values_in.size(), extra = static_cast<Index>(partner_of.size());
  Eigen::VectorXcd values(m0 + extra);
  Eigen::MatrixXcd vectors(n, m0 + extra);
  values.head(m0) = values_in;
  vectors.leftCols(m0) = vectors_in;
  for (Index e = 0; e < extra; ++e) {
    values(m0 + e) = std::conj(values_in(partner_of[static_cast<std::size_t>(e)]));
    vectors.col(m0 + e) = vectors_in.col(partner_of[static_cast<std::size_t>(e)]).conjugate();
  }
  const auto order = order_by(values, which);
  const Index kk = std::min<Index>(k, values.size());

  // Unit vectors, and one real row per real part / nonzero imaginary part.
  Eigen::MatrixXcd V(n, kk);
  std::vector<Index> re_row(static_cast<std::size_t>(kk)), im_row(static_cast<std::size_t>(kk), -1);
  Index rows = 0;
  for (Index i = 0; i < kk; ++i) {
    const Index j = order[static_cast<std::size_t>(i)];
    const double nrm = vectors.col(j).norm();
    V.col(i) = nrm > 0.0 ? Eigen::VectorXcd(vectors.col(j) / nrm) : Eigen::VectorXcd(vectors.col(j));
    re_row[static_cast<std::size_t>(i)] = rows++;
    if (V.col(i).imag().squaredNorm() > 0.0) im_row[static_cast<std::size_t>(i)] = rows++;
  }
  RowMatrix X(rows, n);
  for (Index i = 0; i < kk; ++i) {
    X.row(re_row[static_cast<std::size_t>(i)]) = V.col(i).real().transpose();
    if (im_row[static_cast<std::size_t>(i)] >= 0) X.row(im_row[static_cast<std::size_t>(i)]) = V.col(i).imag().transpose();
  }
  RowMatrix AX(rows, n);
  if (rows > 0) {
    const at::Tensor Xt = at::from_blob(X.data(), {rows, n}, at::TensorOptions().dtype(at::kDouble))
                              .to(op.device(), op.dtype());
    const at::Tensor AXt = op.apply(Xt).to(at::kCPU, at::kDouble).contiguous();
    AX = Eigen::Map<const RowMatrix>(AXt.data_ptr<double>(), rows, n);
  }

  out.values.resize(kk);
  out.residuals.resize(kk);
  out.converged.resize(kk);
  for (Index i = 0; i < kk; ++i) {
    const cd lambda = values(order[static_cast<std::size_t>(i)]);
    const double a = lambda.real(), c = lambda.imag();
    const Index ri = re_row[static_cast<std::size_t>(i)], ii = im_row[static_cast<std::size_t>(i)];
    // A(x + iy) - (a + ic)(x + iy) = [Ax - a x + c y] + i [Ay - c x - a y]
    Eigen::VectorXd rr = AX.row(ri).transpose() - a * X.row(ri).transpose();
    Eigen::VectorXd ri_part = -c * X.row(ri).transpose();
    if (ii >= 0) {
      rr += c * X.row(ii).transpose();
      ri_part += AX.row(ii).transpose() - a * X.row(ii).transpose();
    }
    const double res = std::sqrt(rr.squaredNorm() + ri_part.squaredNorm());
    out.values(i) = lambda;
    out.residuals(i) = res;
    out.converged(i) = res <= tol * std::max(1.0, std::abs(lambda));
  }
  if (keep_vectors) out.vectors = std::move(V);
  else out.vectors.resize(0, 0);
  out.which = which;
  out.tol = tol;
}

void check_krylov_options(const char* name, std::int64_t n, std::int64_t k, std::int64_t ncv, double tol,
                          int max_iterations) {
  CONVDYN_CHECK(k >= 1 && k <= n - 2, ValueError,
                "{}: k={} must be in [1, n-2]=[1, {}] (for k >= n-1 use the dense method)", name, k, n - 2);
  CONVDYN_CHECK(ncv == 0 || (ncv >= k + 2 && ncv <= n), ValueError,
                "{}: ncv={} must be in [k+2, n]=[{}, {}] (or 0 for automatic)", name, ncv, k + 2, n);
  CONVDYN_CHECK(tol > 0.0 && tol < 1.0, ValueError, "{}: tol={} must be in (0, 1)", name, tol);
  CONVDYN_CHECK(max_iterations >= 1, ValueError, "{}: max_iterations={} must be >= 1", name, max_iterations);
}

}  // namespace detail

EigResult spectra_eigs(const LinearOperator& op, const SpectraOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t matvecs0 = op.matvecs();
  const std::int64_t n = op.size();
  const std::int64_t k = opt.k;
  detail::check_krylov_options("spectra", n, k, opt.ncv, opt.tol, opt.max_iterations);
  const std::int64_t ncv = detail::auto_ncv(opt.ncv, k, n);

  SpectraOperator sop(op);
  GenEigsAllPairs solver(sop, k, ncv);
  const Eigen::VectorXd start = detail::normal_start(n, opt.seed);
  solver.init(start.data());
  const auto rule = sort_rule(opt.which);
  solver.compute(rule, opt.max_iterations, opt.tol, rule);

  EigResult out;
  detail::finish_with_true_residuals(op, solver.all_values(), solver.all_vectors(), opt.which, k, opt.tol,
                                     opt.vectors, out);
  out.method = "spectra";
  out.matvecs = op.matvecs() - matvecs0;
  out.restarts = solver.num_iterations();
  out.reason = out.all_converged() && out.size() == k ? StopReason::Converged : StopReason::MaxRestarts;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace convdyn::linalg
