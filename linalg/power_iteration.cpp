#include "linalg/power_iteration.hpp"

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

#include "linalg/error.hpp"
#include "linalg/krylov_schur.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg {

namespace {

using cd = std::complex<double>;
using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Standard normal (rows, n) block from mt19937_64(seed), CPU double, then moved to the operator.
at::Tensor random_block(std::int64_t rows, std::int64_t n, std::uint64_t seed, const LinearOperator& op) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto x = at::empty({rows, n}, at::TensorOptions().dtype(at::kDouble));
  double* p = x.data_ptr<double>();
  for (std::int64_t i = 0; i < rows * n; ++i) p[i] = normal(gen);
  return x.to(op.device(), op.dtype());
}

Eigen::MatrixXd to_eigen(const at::Tensor& t) {
  const auto c = t.to(at::kCPU, at::kDouble).contiguous();
  return Eigen::Map<const RowMajor>(c.data_ptr<double>(), c.size(0), c.size(1));
}

at::Tensor to_tensor(const Eigen::MatrixXd& m, const LinearOperator& op) {
  RowMajor r = m;
  auto t = at::from_blob(r.data(), {r.rows(), r.cols()}, at::TensorOptions().dtype(at::kDouble)).clone();
  return t.to(op.device(), op.dtype());
}

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

/// ||A v_j - lambda_j v_j|| / ||v_j|| through the operator (real parts, plus imaginary parts of complex
/// vectors, as one block).
Eigen::VectorXd true_residuals(const LinearOperator& op, const Eigen::VectorXcd& values, const Eigen::MatrixXcd& v) {
  const auto p = v.cols();
  std::vector<Eigen::Index> imag_cols;
  for (Eigen::Index j = 0; j < p; ++j)
    if (v.col(j).imag().cwiseAbs().maxCoeff() > 0.0) imag_cols.push_back(j);
  Eigen::MatrixXd block(v.rows(), p + static_cast<Eigen::Index>(imag_cols.size()));
  block.leftCols(p) = v.real();
  for (std::size_t k = 0; k < imag_cols.size(); ++k) block.col(p + Eigen::Index(k)) = v.col(imag_cols[k]).imag();
  // What the operator sees is the vector rounded to its dtype: measure the residual of that vector.
  const auto x = to_tensor(block.transpose(), op);
  const Eigen::MatrixXd xr = to_eigen(x).transpose();
  const Eigen::MatrixXd ax = to_eigen(op.apply(x)).transpose();
  Eigen::VectorXd res(p);
  for (Eigen::Index j = 0; j < p; ++j) {
    Eigen::VectorXcd vj = xr.col(j).cast<cd>();
    Eigen::VectorXcd avj = ax.col(j).cast<cd>();
    const auto it = std::find(imag_cols.begin(), imag_cols.end(), j);
    if (it != imag_cols.end()) {
      const Eigen::Index c = p + Eigen::Index(it - imag_cols.begin());
      vj += cd(0, 1) * xr.col(c).cast<cd>();
      avj += cd(0, 1) * ax.col(c).cast<cd>();
    }
    const double nv = vj.norm();
    res(j) = nv > 0 ? (avj - values(j) * vj).norm() / nv : kInf;
  }
  return res;
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
  Eigen::MatrixXd sr(p, h.rows()), si(p, h.rows()), tr(p, 1), ti(p, 1);
  for (Eigen::Index i = 0; i < p; ++i) {
    Eigen::VectorXcd s = vecs.col(order[std::size_t(i)]);
    s /= s.norm();
    sr.row(i) = s.real().transpose();
    si.row(i) = s.imag().transpose();
    tr(i, 0) = c.theta(i).real();
    ti(i, 0) = c.theta(i).imag();
  }
  const auto Sr = to_tensor(sr, op), Si = to_tensor(si, op), Tr = to_tensor(tr, op), Ti = to_tensor(ti, op);
  c.vr = Sr.mm(q);
  c.vi = Si.mm(q);
  // A v = (s^T q) A = s^T w: the true residual without another operator apply.
  const auto avr = Sr.mm(w), avi = Si.mm(w);
  const auto rr = avr - Tr * c.vr + Ti * c.vi;
  const auto ri = avi - Tr * c.vi - Ti * c.vr;
  const auto num = (rr.pow(2).sum(1) + ri.pow(2).sum(1)).sqrt();
  const auto den = (c.vr.pow(2).sum(1) + c.vi.pow(2).sum(1)).sqrt();
  const auto res = (num / den).to(at::kCPU, at::kDouble).contiguous();
  c.residuals = Eigen::Map<const Eigen::VectorXd>(res.data_ptr<double>(), p);
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

}  // namespace

EigResult power_iteration(const LinearOperator& op, const PowerOptions& opt, PowerReport* report_out) {
  const std::int64_t n = op.size();
  const std::int64_t p = opt.count;
  CONVDYN_CHECK(p >= 1 && p <= n, ValueError, "power iteration: count={} must be in [1, n]=[1, {}]", p, n);
  CONVDYN_CHECK(opt.trials >= 1, ValueError, "power iteration: trials={} must be >= 1", opt.trials);
  CONVDYN_CHECK(opt.tol > 0.0 && opt.tol < 1.0, ValueError, "power iteration: tol={} must be in (0, 1)", opt.tol);
  CONVDYN_CHECK(opt.max_iters >= 1, ValueError, "power iteration: max_iters={} must be >= 1", opt.max_iters);
  CONVDYN_CHECK(opt.check_every >= 1, ValueError, "power iteration: check_every={} must be >= 1",
                opt.check_every);
  CONVDYN_CHECK(opt.fallback_max_restarts >= 0, ValueError,
                "power iteration: fallback_max_restarts={} must be >= 0", opt.fallback_max_restarts);

  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t mv0 = op.matvecs();
  const std::int64_t b = std::min(std::max(opt.trials, p + 2), n);
  PowerReport rep;
  rep.block = b;

  at::Tensor x = random_block(b, n, opt.seed, op);
  RitzCheck last;
  std::vector<std::pair<std::int64_t, double>> history;  // (iteration, worst relative residual)
  std::int64_t iter = 0;
  int strikes = 0;  // consecutive checks predicting more than max_iters
  bool done = false;
  while (!done && iter < opt.max_iters) {
    // Orthonormalise (Householder: an orthonormal basis even when the block is rank deficient), apply.
    const auto q = std::get<0>(at::linalg_qr(x.t(), "reduced")).t().contiguous();
    const auto w = op.apply(q);
    ++iter;
    if (iter % opt.check_every == 0 || iter == opt.max_iters) {
      last = rayleigh_ritz(q, w, p, opt.tol, op);
      history.emplace_back(iter, last.worst);
      const double tp = std::abs(last.theta(p - 1));
      rep.gap_ratio = b > p && tp > 0 ? std::abs(last.theta(p)) / tp : -1.0;
      const auto k = history.size();
      if (k >= 2) {
        const auto& h0 = history[k / 2 - (k % 2 == 0 ? 1 : 0)];
        const auto& h1 = history.back();
        if (h1.first > h0.first && h0.second > 0 && std::isfinite(h0.second) && std::isfinite(h1.second))
          rep.observed_rate = std::pow(h1.second / h0.second, 1.0 / double(h1.first - h0.first));
      }
      if (opt.progress)
        opt.progress(PowerProgress{iter, last.nconv, last.worst, std::max(0.0, rep.observed_rate),
                                   op.matvecs() - mv0});
      if (last.nconv == p) {
        done = true;
      } else if (k >= 3 && iter < opt.max_iters) {
        // Predict from the observed residual reduction; act only when two checks in a row agree (a
        // non-normal transient can make one window look slow).
        const double remaining = double(opt.max_iters - iter);
        const double need = rep.observed_rate >= 0 ? iterations_needed(last.worst, opt.tol, rep.observed_rate) : 0.0;
        strikes = need > remaining ? strikes + 1 : 0;
        if (strikes >= 2) {
          // At the rounding level of the dtype the residual cannot fall further whatever the gap.
          const double eps = op.dtype() == at::kFloat ? 1.1920929e-07 : 2.220446049250313e-16;
          const double floor = 1e3 * eps * last.hnorm / std::max(1.0, std::abs(last.theta(p - 1)));
          if (last.worst <= floor) {
            rep.stagnated = true;
          } else {
            rep.small_gap = true;
            const double pred = double(iter) + need;
            rep.predicted_iters = pred < 1e15 ? std::int64_t(pred) : -1;
          }
          done = true;
        }
      }
    }
    x = w;
  }
  CONVDYN_ASSERT(last.vr.defined(), "power iteration: no Rayleigh-Ritz check was made");

  EigResult r;
  r.method = "power";
  r.which = Which::LM;
  r.tol = opt.tol;
  r.values = last.theta.head(p);
  r.vectors = (to_eigen(last.vr).cast<cd>() + cd(0, 1) * to_eigen(last.vi).cast<cd>()).transpose();
  phase_normalise(r.vectors);
  r.residuals = true_residuals(op, r.values, r.vectors);
  r.converged.resize(p);
  for (Eigen::Index i = 0; i < p; ++i) r.converged(i) = r.residuals(i) <= opt.tol * std::max(1.0, std::abs(r.values(i)));
  r.restarts = iter;
  r.reason = r.all_converged() ? StopReason::Converged : StopReason::MaxRestarts;

  // What the Ritz values say about the problem (and about the published single-vector method).
  const cd t1 = last.theta(0);
  rep.complex_dominant = t1.imag() != 0.0;
  if (!rep.complex_dominant && b >= 2) {
    const cd t2 = last.theta(1);
    rep.tie = std::abs(t1) > 0 && std::abs(t2) / std::abs(t1) > 1 - 1e-6 && std::abs(t2 - t1) > 1e-6 * std::abs(t1);
  }
  std::vector<std::string> notes;
  if (rep.complex_dominant)
    notes.push_back(fmt::format(
        "dominant eigenvalue is a complex-conjugate pair {} and its conjugate (|lambda| = {:.6g}): single-vector "
        "power iteration cannot converge to a real vector; returned the complex eigenvector",
        fmt_value(t1), std::abs(t1)));
  if (rep.tie)
    notes.push_back(fmt::format("|lambda_2/lambda_1| = {:.8f} ({} vs {}): no dominant eigenvalue for "
                                "single-vector power iteration",
                                std::abs(last.theta(1)) / std::abs(t1), fmt_value(t1), fmt_value(last.theta(1))));
  if (rep.small_gap)
    notes.push_back(fmt::format(
        "gap too small: residual falls by a factor {:.6f} per iteration (block b={}, |lambda_(p+1)/lambda_p| ~ "
        "{:.6f}); reaching tol needs {} iterations > max_iters={}; stopped after {}",
        rep.observed_rate, b, rep.gap_ratio,
        rep.predicted_iters < 0 ? std::string("unboundedly many") : fmt::format("~{}", rep.predicted_iters),
        opt.max_iters, iter));
  else if (rep.stagnated)
    notes.push_back(fmt::format("residual stagnated at {:.2e} > tol {:.1e} after {} iterations (tol below the "
                                "rounding level of {}?)",
                                last.worst, opt.tol, iter, op.dtype() == at::kFloat ? "float32" : "float64"));
  else if (!r.all_converged())
    notes.push_back(fmt::format("not converged after {} iterations (worst relative residual {:.2e}, tol {:.1e})",
                                iter, last.worst, opt.tol));

  const bool failed = !r.all_converged() && !rep.stagnated;
  if (failed && opt.fallback) {
    const std::int64_t k = std::min(std::max<std::int64_t>(p, 2), n - 2);
    if (k < p) {
      notes.push_back(fmt::format("no krylov-schur fallback: n={} too small for {} pairs (use the dense method)",
                                  n, p));
    } else {
      KrylovSchurOptions ko;
      ko.k = k;
      ko.which = Which::LM;
      ko.tol = opt.tol;
      ko.seed = opt.seed;
      ko.vectors = true;
      ko.max_restarts = static_cast<int>(std::min<std::int64_t>(opt.fallback_max_restarts, 1 << 30));
      EigResult ks = krylov_schur(op, ko);
      const std::int64_t m = std::min<std::int64_t>(p, ks.values.size());
      r.values = ks.values.head(m);
      r.vectors = ks.vectors.leftCols(m);
      phase_normalise(r.vectors);
      r.residuals = ks.residuals.head(m);
      r.converged = ks.converged.head(m);
      r.reason = ks.reason;
      r.restarts = iter + ks.restarts;
      r.method = "power->krylov-schur";
      rep.fell_back = true;
      notes.push_back(fmt::format("fell back to krylov-schur (LM, k={}): {} ({} restarts, {} matvecs)", k,
                                  r.all_converged() ? "converged" : "NOT converged", ks.restarts, ks.matvecs));
    }
  }
  for (std::size_t i = 0; i < notes.size(); ++i) rep.note += (i ? "; " : "") + notes[i];
  r.matvecs = op.matvecs() - mv0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report_out) *report_out = std::move(rep);
  return r;
}

}  // namespace convdyn::linalg
