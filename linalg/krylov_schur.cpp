#include "linalg/krylov_schur.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "linalg/detail/krylov_schur_decomposition.hpp"
#include "linalg/detail/ordered_schur.hpp"
#include "linalg/error.hpp"

namespace convdyn::linalg {

namespace {
using detail::KrylovSchurDecomposition;
using detail::SchurBlock;
using Eigen::Index;
using cd = std::complex<double>;

double scale_of(const cd& v) { return std::max(1.0, std::abs(v)); }
// A converged block is locked (deflated) only when its estimate is this far below the tolerance, so that
// the dropped residual coefficients of up to k locked pairs stay negligible next to tol.
constexpr double kLockMargin = 0.01;

// Ritz pairs with true residuals, already reduced to the k best in `which` order.
struct Evaluation {
  Eigen::VectorXcd values;
  Eigen::VectorXd residuals;
  Eigen::MatrixXcd vectors;
  bool all_converged = false;
  double worst_ratio = 0.0;  // max residual / (tol * max(1, |lambda|))
};

// Forms the Ritz vectors of `blocks` (blocks of the current Schur form T), applies the operator to them
// as one (r, n) block and returns the k best pairs with their true residuals ||A v - lambda v|| / ||v||.
Evaluation evaluate(const LinearOperator& op, const KrylovSchurDecomposition& dec, const Eigen::MatrixXd& T,
                    const std::vector<SchurBlock>& blocks, Index k, Which which, double tol, bool vectors) {
  const Index p = T.rows();
  Index r = 0;
  for (const auto& b : blocks) r += b.size;
  Eigen::MatrixXd Y(r, p), C = Eigen::MatrixXd::Zero(r, r);
  Index row = 0;
  for (const auto& b : blocks) {
    const Eigen::VectorXcd y = detail::schur_eigenvector(T, b);
    const double a = b.value.real(), c = b.value.imag();
    Y.row(row) = y.real().transpose();
    C(row, row) = a;
    if (b.size == 2) {  // rows (Re x, Im x): lambda x = (a Re x - c Im x) + i (c Re x + a Im x)
      Y.row(row + 1) = y.imag().transpose();
      C(row, row + 1) = -c;
      C(row + 1, row) = c;
      C(row + 1, row + 1) = a;
    }
    row += b.size;
  }
  const at::Tensor X = dec.combine(Y);
  const at::Tensor Ct = at::from_blob(C.data(), {r, r}, at::TensorOptions().dtype(at::kDouble))
                            .t()  // Eigen is column-major: the transpose of the blob is C
                            .to(X.device(), X.scalar_type(), false, true);
  const at::Tensor R = op.apply(X) - at::mm(Ct, X);
  const at::Tensor norms = at::stack({R.norm(2, {1}), X.norm(2, {1})}).to(at::kCPU, at::kDouble).contiguous();
  const auto nr = norms.accessor<double, 2>();
  Eigen::MatrixXd Xc;
  if (vectors) {
    const at::Tensor Xh = X.to(at::kCPU, at::kDouble).contiguous();
    Xc = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        Xh.data_ptr<double>(), r, Xh.size(1));
  }

  // Candidates: every value of every block (both members of a pair), then the k best.
  std::vector<cd> vals;
  std::vector<double> res;
  std::vector<Eigen::VectorXcd> vecs;
  row = 0;
  for (const auto& b : blocks) {
    double rn = 0.0, xn = 0.0;
    for (Index i = row; i < row + b.size; ++i) {
      rn += nr[0][i] * nr[0][i];
      xn += nr[1][i] * nr[1][i];
    }
    const double resid = std::sqrt(rn) / std::sqrt(xn);
    Eigen::VectorXcd v;
    if (vectors) {
      v = Xc.row(row).transpose().cast<cd>();
      if (b.size == 2) v += cd(0.0, 1.0) * Xc.row(row + 1).transpose().cast<cd>();
      v /= v.norm();
    }
    vals.push_back(b.value);
    res.push_back(resid);
    if (vectors) vecs.push_back(v);
    if (b.size == 2) {
      vals.push_back(std::conj(b.value));
      res.push_back(resid);
      if (vectors) vecs.push_back(v.conjugate());
    }
    row += b.size;
  }
  const Eigen::VectorXcd all = Eigen::Map<const Eigen::VectorXcd>(vals.data(), static_cast<Index>(vals.size()));
  const auto order = order_by(all, which);
  const Index kk = std::min<Index>(k, all.size());
  Evaluation ev;
  ev.values.resize(kk);
  ev.residuals.resize(kk);
  if (vectors) ev.vectors.resize(X.size(1), kk);
  ev.all_converged = kk == k;
  for (Index i = 0; i < kk; ++i) {
    const auto j = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
    ev.values(i) = vals[j];
    ev.residuals(i) = res[j];
    if (vectors) ev.vectors.col(i) = vecs[j];
    const double ratio = res[j] / (tol * scale_of(vals[j]));
    ev.worst_ratio = std::max(ev.worst_ratio, std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio);
    if (!(ratio <= 1.0)) ev.all_converged = false;
  }
  return ev;
}

at::Tensor checked_start(const at::Tensor& start, Index n) {
  if (!start.defined()) return {};
  CONVDYN_CHECK(start.numel() == n && (start.dim() == 1 || (start.dim() == 2 && start.size(0) == 1)),
                ValueError, "krylov-schur: start vector of shape [{}] must be (n) or (1, n) with n={}",
                fmt::join(start.sizes(), ", "), n);
  const auto s = start.detach().reshape({n}).to(at::kCPU, at::kDouble);
  CONVDYN_CHECK(at::isfinite(s).all().item<bool>(), ValueError, "krylov-schur: start vector is not finite");
  CONVDYN_CHECK(s.norm().item<double>() > 0.0, ValueError, "krylov-schur: start vector is zero");
  return start.detach().reshape({n});
}
}  // namespace

EigResult krylov_schur(const LinearOperator& op, const KrylovSchurOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t matvecs0 = op.matvecs();
  const Index n = op.size();
  const Index k = opt.k;
  CONVDYN_CHECK(k >= 1 && k <= n - 2, ValueError,
                "krylov-schur: k={} must be in [1, n-2]=[1, {}] (for k >= n-1 use the dense method)", k, n - 2);
  CONVDYN_CHECK(opt.m == 0 || (opt.m >= k + 2 && opt.m <= n), ValueError,
                "krylov-schur: m={} must be in [k+2, n]=[{}, {}] (or 0 for automatic)", opt.m, k + 2, n);
  CONVDYN_CHECK(opt.tol > 0.0 && opt.tol < 1.0, ValueError, "krylov-schur: tol={} must be in (0, 1)", opt.tol);
  CONVDYN_CHECK(opt.max_restarts >= 0, ValueError, "krylov-schur: max_restarts={} must be >= 0",
                opt.max_restarts);
  const Index m = opt.m == 0 ? std::min<Index>(std::max<Index>(2 * k + 1, k + 20), n) : opt.m;
  const double tol = opt.tol;

  KrylovSchurDecomposition dec(op, m, opt.seed, checked_start(opt.start, n));
  double est_factor = 1.0;         // estimate threshold = est_factor * tol * max(1, |theta|)
  double best_failed = std::numeric_limits<double>::infinity();
  int stagnant = 0, restarts = 0;
  StopReason reason = StopReason::MaxRestarts;
  std::optional<Evaluation> result;

  while (true) {
    const bool extended = dec.expand();
    dec.schur(opt.which);
    const Index p = dec.size();
    const Eigen::MatrixXd T = dec.projected().topLeftCorner(p, p);
    const Eigen::RowVectorXd b = dec.projected().row(p).head(p);
    const Eigen::VectorXd& d = dec.deflated();
    const Index locked = dec.locked();
    std::vector<SchurBlock> wanted;
    for (const auto& blk : detail::schur_blocks(T, 0, p))
      if (blk.start < k) wanted.push_back(blk);

    // Residual bounds |b^T y| + sum_j |d_j y_j| of the wanted Ritz pairs (d: coefficients deflated by
    // locking), relative to max(1, |theta|).
    std::vector<double> estimate(wanted.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      const Eigen::VectorXcd y = detail::schur_eigenvector(T, wanted[i]);
      cd s = 0.0;
      double deflation = 0.0;
      for (Index j = 0; j < p; ++j) s += b(j) * y(j);
      for (Index j = 0; j < locked; ++j) deflation += std::abs(d(j)) * std::abs(y(j));
      estimate[i] = (std::abs(s) + deflation) / scale_of(wanted[i].value);
      worst = std::max(worst, estimate[i]);
    }
    // Leading wanted blocks whose estimate passes: their end position (never splits a pair). Locked
    // blocks count as passed: their estimates are frozen, and the true-residual check judges them.
    auto leading_converged = [&](double factor) {
      Index end = 0;
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        const Index block_end = wanted[i].start + wanted[i].size;
        if (block_end > locked && estimate[i] > factor * tol) break;
        end = block_end;
      }
      return end;
    };
    Index nconv = leading_converged(est_factor);

    bool done = false;
    if (nconv >= k) {
      auto ev = evaluate(op, dec, T, wanted, k, opt.which, tol, opt.vectors);
      if (ev.all_converged) {
        reason = StopReason::Converged;
        result = std::move(ev);
        done = true;
      } else {
        // The estimate passed but the true residual did not: loss of orthogonality or an unattainable
        // tol (rounding of the operator dtype). Demand smaller estimates of the unlocked pairs, and give
        // up when that stops helping.
        if (ev.worst_ratio < 0.5 * best_failed) {
          best_failed = ev.worst_ratio;
          stagnant = 0;
        } else {
          ++stagnant;
        }
        if (stagnant >= 2) {
          reason = StopReason::MaxRestarts;
          result = std::move(ev);
          done = true;
        } else {
          est_factor *= 0.1;
          nconv = leading_converged(est_factor);
        }
      }
    }
    if (opt.progress) {
      KrylovSchurProgress pr;
      pr.restart = restarts;
      pr.converged = std::min<Index>(nconv, k);
      pr.worst_estimate = worst;
      pr.matvecs = op.matvecs() - matvecs0;
      pr.breakdowns = dec.breakdowns();
      opt.progress(pr);
    }
    if (done) break;
    if (!extended || restarts >= opt.max_restarts) {
      reason = extended ? StopReason::MaxRestarts : StopReason::Breakdown;
      result = evaluate(op, dec, T, wanted, k, opt.which, tol, opt.vectors);
      break;
    }

    // Lock with a margin (the deflated coefficients add to every later bound); locking is permanent.
    const Index lock = std::max(leading_converged(kLockMargin * est_factor), locked);
    // Thick restart: the converged blocks plus half of the rest, at least k, at most p-1.
    Index keep = std::max({nconv + std::max<Index>(1, (p - nconv) / 2), k, lock + 1});
    keep = std::min<Index>(keep, p - 1);
    if (T(keep, keep - 1) != 0.0) keep = keep + 1 <= p - 1 ? keep + 1 : keep - 1;  // don't split a pair
    dec.truncate(keep, lock);
    ++restarts;
  }

  EigResult out;
  out.values = result->values;
  out.residuals = result->residuals;
  out.vectors = std::move(result->vectors);
  out.converged.resize(out.values.size());
  for (Index i = 0; i < out.values.size(); ++i)
    out.converged(i) = out.residuals(i) <= tol * scale_of(out.values(i));
  out.method = "krylov-schur";
  out.which = opt.which;
  out.tol = tol;
  out.matvecs = op.matvecs() - matvecs0;
  out.restarts = restarts;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.reason = reason;
  return out;
}

}  // namespace convdyn::linalg
