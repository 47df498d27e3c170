#include "linalg/solvers/power_iteration.hpp"

#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <vector>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/random.hpp"
#include "linalg/detail/residuals.hpp"
#include "linalg/error.hpp"
#include "linalg/scalar_type.hpp"
#include "linalg/solvers/krylov_schur.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg {

namespace {

using cd = std::complex<double>;
using detail::to_eigen;
using detail::to_tensor;

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Unit 2-norm, then the largest-magnitude component made real positive (first one on ties).
void phase_normalise(Eigen::MatrixXcd& v) {
  for (Eigen::Index j = 0; j < v.cols(); ++j) {
    auto col = v.col(j);
    const double nrm = col.norm();
    if (nrm == 0.0) continue;
    Eigen::Index imax = 0;
    col.cwiseAbs().maxCoeff(&imax);
    const cd z = col(imax);
    col *= std::conj(z) / (std::abs(z) * nrm);
    col(imax) = cd(std::abs(col(imax)), 0.0);
  }
}

std::string fmt_value(cd z) {
  if (z.imag() == 0.0) return fmt::format("{:.6g}", z.real());
  return fmt::format("{:.6g}{:+.6g}i", z.real(), z.imag());
}

/// One Rayleigh–Ritz check: Ritz values of the whole block in LM order, and for the p leading pairs the
/// vectors (real and imaginary parts as (p, n) blocks in the operator's dtype) and true residuals.
struct RitzCheck {
  Eigen::VectorXcd theta;      ///< all b Ritz values, LM order
  Eigen::VectorXd residuals;   ///< p wanted pairs, ||A v - theta v|| / ||v||
  at::Tensor vr, vi;           ///< (p, n) real and imaginary parts of the p Ritz vectors
  double worst = kInf;         ///< max residual / max(1, |theta|)
  double hnorm = 0.0;          ///< ||H||_F, H = Q^T A Q (a lower estimate of ||A|| up to sqrt(b))
  std::int64_t nconv = 0;      ///< leading pairs meeting tol
};

RitzCheck rayleigh_ritz(const at::Tensor& q, const at::Tensor& w, std::int64_t p, double tol,
                        const LinearOperator& op) {
  // H_ij = q_i . (A q_j): rows of q are the orthonormal basis, rows of w = A q.
  const Eigen::MatrixXd h = to_eigen(q.mm(w.t()));
  Eigen::EigenSolver<Eigen::MatrixXd> es(h, /*computeEigenvectors=*/true);
  CONVDYN_ASSERT(es.info() == Eigen::Success, "power iteration: projected {}x{} eigenproblem failed", h.rows(),
                 h.cols());
  const Eigen::VectorXcd vals = es.eigenvalues();
  const Eigen::MatrixXcd vecs = es.eigenvectors();
  const auto order = order_by(vals, Which::LM);
  RitzCheck c;
  c.hnorm = h.norm();
  c.theta.resize(vals.size());
  for (Eigen::Index i = 0; i < vals.size(); ++i) c.theta(i) = vals(order[std::size_t(i)]);
  Eigen::MatrixXd sr(p, h.rows()), si(p, h.rows());
  for (Eigen::Index i = 0; i < p; ++i) {
    Eigen::VectorXcd s = vecs.col(order[std::size_t(i)]);
    s /= s.norm();
    sr.row(i) = s.real().transpose();
    si.row(i) = s.imag().transpose();
  }
  const auto options = at::TensorOptions().dtype(op.dtype()).device(op.device());
  const auto S = to_tensor((Eigen::MatrixXd(2 * p, h.rows()) << sr, si).finished(), options);
  const auto X = S.mm(q);
  c.vr = X.narrow(0, 0, p);
  c.vi = X.narrow(0, p, p);
  // A v = (s^T q) A = s^T w: the true residual without another operator apply.
  std::vector<detail::RealRows> rows;
  for (Eigen::Index i = 0; i < p; ++i) rows.push_back({i, p + i});
  c.residuals = detail::pair_residuals(X, S.mm(w), c.theta.head(p), rows);
  c.worst = 0.0;
  bool leading = true;
  for (Eigen::Index i = 0; i < p; ++i) {
    double rel = c.residuals(i) / std::max(1.0, std::abs(c.theta(i)));
    if (!std::isfinite(rel)) rel = kInf;
    c.worst = std::max(c.worst, rel);
    leading = leading && rel <= tol;
    if (leading) ++c.nconv;
  }
  return c;
}

/// Iterations to go from `from` to `to` at factor `rate` per iteration (inf when rate >= 1).
double iterations_needed(double from, double to, double rate) {
  if (from <= to) return 0.0;
  if (!(rate < 1.0) || rate <= 0.0) return rate <= 0.0 ? 1.0 : kInf;
  return std::log(to / from) / std::log(rate);
}

void check_options(const LinearOperator& op, const PowerOptions& opt) {
  const std::int64_t n = op.size(), p = opt.count;
  CONVDYN_CHECK(p >= 1 && p <= n, ValueError, "power iteration: count={} must be in [1, n]=[1, {}]", p, n);
  CONVDYN_CHECK(opt.trials >= 1, ValueError, "power iteration: trials={} must be >= 1", opt.trials);
  CONVDYN_CHECK(opt.tol > 0.0 && opt.tol < 1.0, ValueError, "power iteration: tol={} must be in (0, 1)", opt.tol);
  CONVDYN_CHECK(opt.max_iters >= 1, ValueError, "power iteration: max_iters={} must be >= 1", opt.max_iters);
  CONVDYN_CHECK(opt.check_every >= 1, ValueError, "power iteration: check_every={} must be >= 1",
                opt.check_every);
  CONVDYN_CHECK(opt.fallback_max_restarts >= 0, ValueError,
                "power iteration: fallback_max_restarts={} must be >= 0", opt.fallback_max_restarts);
}

/// The iteration itself: the block, its checks, and what they say about the rate.
class PowerRun {
 public:
  PowerRun(const LinearOperator& op, const PowerOptions& opt)
      : op_(op), opt_(opt), p_(opt.count), b_(std::min(std::max(opt.trials, opt.count + 2), op.size())) {
    rep_.block = b_;
  }
  /// Iterates until converged, a failure is predicted, or max_iters; returns the power-iteration result.
  EigResult iterate();
  /// Notes on the problem (complex pair, tie, gap, stagnation) and, on failure, the Krylov–Schur fallback.
  void diagnose_and_fall_back(EigResult& r);
  PowerReport& report() { return rep_; }

 private:
  void observe_rate();
  bool predicts_failure();

  const LinearOperator& op_;
  const PowerOptions& opt_;
  const std::int64_t p_, b_;
  PowerReport rep_;
  RitzCheck last_;
  std::vector<std::pair<std::int64_t, double>> history_;  // (iteration, worst relative residual)
  std::int64_t iter_ = 0;
  int strikes_ = 0;  // consecutive checks predicting more than max_iters
  std::vector<std::string> notes_;
};

// The residual's reduction per iteration over the last half of the checks.
void PowerRun::observe_rate() {
  const auto k = history_.size();
  if (k < 2) return;
  const auto& h0 = history_[k / 2 - (k % 2 == 0 ? 1 : 0)];
  const auto& h1 = history_.back();
  if (h1.first > h0.first && h0.second > 0 && std::isfinite(h0.second) && std::isfinite(h1.second))
    rep_.observed_rate = std::pow(h1.second / h0.second, 1.0 / double(h1.first - h0.first));
}

// Predicts from the observed rate; acts only when two checks in a row agree (a non-normal transient can make
// one window look slow). At the rounding level of the dtype the residual cannot fall further whatever the
// gap: that is stagnation, not a small gap.
bool PowerRun::predicts_failure() {
  if (history_.size() < 3 || iter_ >= opt_.max_iters) return false;
  const double remaining = double(opt_.max_iters - iter_);
  const double need = rep_.observed_rate >= 0 ? iterations_needed(last_.worst, opt_.tol, rep_.observed_rate) : 0.0;
  strikes_ = need > remaining ? strikes_ + 1 : 0;
  if (strikes_ < 2) return false;
  const double floor = 1e3 * machine_epsilon(op_.dtype()) * last_.hnorm / std::max(1.0, std::abs(last_.theta(p_ - 1)));
  if (last_.worst <= floor) {
    rep_.stagnated = true;
  } else {
    rep_.small_gap = true;
    const double pred = double(iter_) + need;
    rep_.predicted_iters = pred < 1e15 ? std::int64_t(pred) : -1;
  }
  return true;
}

EigResult PowerRun::iterate() {
  const std::int64_t mv0 = op_.matvecs();
  std::mt19937_64 rng(opt_.seed);
  at::Tensor x = detail::normal_block(rng, b_, op_.size(), at::TensorOptions().dtype(op_.dtype()).device(op_.device()));
  bool done = false;
  while (!done && iter_ < opt_.max_iters) {
    // Orthonormalise (Householder: an orthonormal basis even when the block is rank deficient), apply.
    const auto q = std::get<0>(at::linalg_qr(x.t(), "reduced")).t().contiguous();
    const auto w = op_.apply(q);
    ++iter_;
    if (iter_ % opt_.check_every == 0 || iter_ == opt_.max_iters) {
      last_ = rayleigh_ritz(q, w, p_, opt_.tol, op_);
      history_.emplace_back(iter_, last_.worst);
      const double tp = std::abs(last_.theta(p_ - 1));
      rep_.gap_ratio = b_ > p_ && tp > 0 ? std::abs(last_.theta(p_)) / tp : -1.0;
      observe_rate();
      if (opt_.progress)
        opt_.progress(PowerProgress{iter_, last_.nconv, last_.worst, std::max(0.0, rep_.observed_rate),
                                    op_.matvecs() - mv0});
      done = last_.nconv == p_ || predicts_failure();
    }
    x = w;
  }
  CONVDYN_ASSERT(last_.vr.defined(), "power iteration: no Rayleigh-Ritz check was made");

  EigResult r;
  r.method = "power";
  r.which = Which::LM;
  r.values = last_.theta.head(p_);
  r.vectors = (to_eigen(last_.vr).cast<cd>() + cd(0, 1) * to_eigen(last_.vi).cast<cd>()).transpose();
  phase_normalise(r.vectors);
  r.residuals = detail::true_residuals(op_, r.values, r.vectors);
  r.flag_converged(opt_.tol);
  r.restarts = iter_;
  r.reason = r.all_converged() ? StopReason::Converged : StopReason::MaxRestarts;
  return r;
}

void PowerRun::diagnose_and_fall_back(EigResult& r) {
  // What the Ritz values say about the problem (and about the published single-vector method).
  const cd t1 = last_.theta(0);
  rep_.complex_dominant = t1.imag() != 0.0;
  if (!rep_.complex_dominant && b_ >= 2) {
    const cd t2 = last_.theta(1);
    rep_.tie = std::abs(t1) > 0 && std::abs(t2) / std::abs(t1) > 1 - 1e-6 && std::abs(t2 - t1) > 1e-6 * std::abs(t1);
  }
  if (rep_.complex_dominant)
    notes_.push_back(fmt::format(
        "dominant eigenvalue is a complex-conjugate pair {} and its conjugate (|lambda| = {:.6g}): single-vector "
        "power iteration cannot converge to a real vector; returned the complex eigenvector",
        fmt_value(t1), std::abs(t1)));
  if (rep_.tie)
    notes_.push_back(fmt::format("|lambda_2/lambda_1| = {:.8f} ({} vs {}): no dominant eigenvalue for "
                                 "single-vector power iteration",
                                 std::abs(last_.theta(1)) / std::abs(t1), fmt_value(t1), fmt_value(last_.theta(1))));
  if (rep_.small_gap)
    notes_.push_back(fmt::format(
        "gap too small: residual falls by a factor {:.6f} per iteration (block b={}, |lambda_(p+1)/lambda_p| ~ "
        "{:.6f}); reaching tol needs {} iterations > max_iters={}; stopped after {}",
        rep_.observed_rate, b_, rep_.gap_ratio,
        rep_.predicted_iters < 0 ? std::string("unboundedly many") : fmt::format("~{}", rep_.predicted_iters),
        opt_.max_iters, iter_));
  else if (rep_.stagnated)
    notes_.push_back(fmt::format("residual stagnated at {:.2e} > tol {:.1e} after {} iterations (tol below the "
                                 "rounding level of {}?)",
                                 last_.worst, opt_.tol, iter_, scalar_type_name(op_.dtype())));
  else if (!r.all_converged())
    notes_.push_back(fmt::format("not converged after {} iterations (worst relative residual {:.2e}, tol {:.1e})",
                                 iter_, last_.worst, opt_.tol));

  const bool failed = !r.all_converged() && !rep_.stagnated;
  if (failed && opt_.fallback) {
    const std::int64_t n = op_.size(), k = std::min(std::max<std::int64_t>(p_, 2), n - 2);
    if (k < p_) {
      notes_.push_back(
          fmt::format("no krylov-schur fallback: n={} too small for {} pairs (use the dense method)", n, p_));
    } else {
      KrylovSchurOptions ko;
      ko.k = k;
      ko.which = Which::LM;
      ko.tol = opt_.tol;
      ko.seed = opt_.seed;
      ko.vectors = true;
      ko.max_restarts = static_cast<int>(std::min<std::int64_t>(opt_.fallback_max_restarts, 1 << 30));
      EigResult ks = krylov_schur(op_, ko);
      const std::int64_t m = std::min<std::int64_t>(p_, ks.values.size());
      r.values = ks.values.head(m);
      r.vectors = ks.vectors.leftCols(m);
      phase_normalise(r.vectors);
      r.residuals = ks.residuals.head(m);
      r.converged = ks.converged.head(m);
      r.reason = ks.reason;
      r.restarts = iter_ + ks.restarts;
      r.method = "power->krylov-schur";
      rep_.fell_back = true;
      notes_.push_back(fmt::format("fell back to krylov-schur (LM, k={}): {} ({} restarts, {} matvecs)", k,
                                   r.all_converged() ? "converged" : "NOT converged", ks.restarts, ks.matvecs));
    }
  }
  for (std::size_t i = 0; i < notes_.size(); ++i) rep_.note += (i ? "; " : "") + notes_[i];
}

}  // namespace

EigResult power_iteration(const LinearOperator& op, const PowerOptions& opt, PowerReport* report_out) {
  check_options(op, opt);
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t mv0 = op.matvecs();
  PowerRun run(op, opt);
  EigResult r = run.iterate();
  run.diagnose_and_fall_back(r);
  r.matvecs = op.matvecs() - mv0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report_out) *report_out = std::move(run.report());
  return r;
}

}  // namespace convdyn::linalg
