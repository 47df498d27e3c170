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
// With the automatic subspace size, when the count of converged leading pairs has not grown for this many
// restarts although some have converged, the next wanted value sits in a cluster the subspace does not
// resolve: m grows by half, once. (Random 512x7x7 conv, k = 20, LR: m = 80 spent ~7,000 of its 9,389
// matvecs on the 20th value alone; m = 120 needed 2,124 in all.)
constexpr int kStallRestarts = 10;

// Ritz pairs with true residuals, already reduced to the k best in `which` order.
struct Evaluation {
  Eigen::VectorXcd values;
  Eigen::VectorXd residuals;
  Eigen::MatrixXcd vectors;
  std::vector<Index> block_start;  // position in T of the Schur block each value comes from
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
  std::vector<Index> starts;
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
    starts.push_back(b.start);
    if (vectors) vecs.push_back(v);
    if (b.size == 2) {
      vals.push_back(std::conj(b.value));
      res.push_back(resid);
      starts.push_back(b.start);
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
    ev.block_start.push_back(starts[j]);
    if (vectors) ev.vectors.col(i) = vecs[j];
    const double ratio = res[j] / (tol * scale_of(vals[j]));
    ev.worst_ratio = std::max(ev.worst_ratio, std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio);
    if (!(ratio <= 1.0)) ev.all_converged = false;
  }
  return ev;
}

// The Schur blocks of T that lie before position `end`.
std::vector<SchurBlock> locked_blocks(const Eigen::MatrixXd& T, Index end) {
  std::vector<SchurBlock> out;
  for (const auto& blk : detail::schur_blocks(T, 0, T.rows()))
    if (blk.start + blk.size <= end) out.push_back(blk);
  return out;
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

Reorthogonalization parse_reorthogonalization(const std::string& s) {
  if (s == "ifneeded") return Reorthogonalization::IfNeeded;
  if (s == "always") return Reorthogonalization::Always;
  throw ValueError(fmt::format("unknown reorthogonalization '{}' (expected ifneeded or always)", s));
}

const char* to_string(Reorthogonalization r) { return r == Reorthogonalization::IfNeeded ? "ifneeded" : "always"; }

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
  const Index m = opt.m == 0 ? std::min<Index>(std::max<Index>(4 * k, k + 40), n) : opt.m;
  const double tol = opt.tol;

  // Search rounds: up to 4 candidate blocks of the complement, in an active space as large as the main
  // phase's, and at most as many restarts per round as the main phase needed (then: search incomplete).
  const Index search_active = std::max<Index>(m - k, 8);
  const Index search_cands = std::min<Index>(4, k);
  int main_restarts = 0, round_start = 0;
  // Room for the search rounds' candidates next to the k locked pairs.
  auto capacity_for = [&](Index mm) { return opt.verify ? std::min<Index>(n, mm + k + 16) : mm; };
  KrylovSchurDecomposition dec(op, m, opt.seed, checked_start(opt.start, n), capacity_for(m),
                               opt.reorthogonalize == Reorthogonalization::Always);
  // Stall growth (automatic m only): see kStallRestarts.
  const Index m_max = opt.m == 0 ? std::min<Index>(n, m + m / 2) : m;
  Index best_nconv = 0;
  int since_progress = 0;
  double est_factor = 1.0;         // estimate threshold = est_factor * tol * max(1, |theta|)
  double best_failed = std::numeric_limits<double>::infinity();
  int stagnant = 0, restarts = 0;
  // Wanted = the Schur blocks that start before `target`. After the k wanted pairs converge, search
  // rounds (opt.verify) lock them and restart from a fresh random vector orthogonal to them: the first
  // active block is then the best eigenvalue of the complement, and the search ends when it does not
  // belong among the k best. `search_from` = the locked count when the current round started.
  Index target = k, search_from = -1;
  std::int64_t rounds = 0;
  StopReason reason = StopReason::MaxRestarts;
  std::optional<Evaluation> result;
  std::int64_t result_newcomers = 0;  // pairs found by search rounds that the first convergence had missed
  bool verified = false;

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
      if (blk.start < target) wanted.push_back(blk);

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
    bool search = false;  // start a (new) search round after this iteration
    if (nconv >= target) {
      auto ev = evaluate(op, dec, T, wanted, k, opt.which, tol, opt.vectors);
      if (ev.all_converged) {
        // A pair of the running search round among the k best was missed before: search again.
        const bool newcomer = search_from >= 0 && std::any_of(ev.block_start.begin(), ev.block_start.end(),
                                                              [&](Index st) { return st >= search_from; });
        const bool room = nconv + search_cands + 8 <= dec.capacity();
        if (opt.verify && (search_from < 0 || newcomer) && room) {
          if (newcomer) ++result_newcomers;
          search = true;
          best_failed = std::numeric_limits<double>::infinity();
          stagnant = 0;
        } else {
          reason = StopReason::Converged;
          verified = opt.verify && room;
          result = std::move(ev);
          done = true;
        }
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
      pr.searching = search_from >= 0;
      opt.progress(pr);
    }
    if (done) break;
    if (search) {
      // Lock every wanted pair (all passed) and restart in their orthogonal complement.
      const bool fresh = dec.restart_fresh(nconv);
      if (search_from < 0) main_restarts = restarts;
      round_start = restarts;
      search_from = nconv;
      target = nconv + search_cands;
      dec.set_max_size(std::min<Index>(dec.capacity(), nconv + std::max<Index>(search_active, search_cands + 4)));
      ++rounds;
      ++restarts;
      if (!fresh) {  // the locked pairs span R^n: nothing can be missing
        result = evaluate(op, dec, dec.projected().topLeftCorner(nconv, nconv), wanted, k, opt.which, tol,
                          opt.vectors);
        reason = StopReason::Converged;
        verified = true;
        break;
      }
      continue;
    }
    if (search_from >= 0 && restarts - round_start > std::max(20, main_restarts)) {
      // The round did not settle within its budget: the first convergence stands, unverified.
      result = evaluate(op, dec, T, locked_blocks(T, search_from), k, opt.which, tol, opt.vectors);
      reason = result->all_converged ? StopReason::Converged : StopReason::MaxRestarts;
      verified = false;
      break;
    }
    if (!extended || restarts >= opt.max_restarts) {
      reason = extended ? StopReason::MaxRestarts : StopReason::Breakdown;
      result = evaluate(op, dec, T, wanted, k, opt.which, tol, opt.vectors);
      break;
    }

    // Lock with a margin (the deflated coefficients add to every later bound); locking is permanent.
    const Index lock = std::max(leading_converged(kLockMargin * est_factor), locked);
    // Thick restart: the converged blocks plus half of the rest, at least k, at most p-1.
    Index keep = std::max({nconv + std::max<Index>(1, (p - nconv) / 2), target, lock + 1});
    keep = std::min<Index>(keep, p - 1);
    if (T(keep, keep - 1) != 0.0) keep = keep + 1 <= p - 1 ? keep + 1 : keep - 1;  // don't split a pair
    dec.truncate(keep, lock);
    ++restarts;
    if (search_from < 0) {
      if (nconv > best_nconv) {
        best_nconv = nconv;
        since_progress = 0;
      } else if (++since_progress >= kStallRestarts && best_nconv > 0 && dec.max_size() < m_max) {
        const Index grown = m_max;
        dec.reserve(capacity_for(grown));
        dec.set_max_size(grown);
        since_progress = 0;
      }
    }
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
  out.search_rounds = rounds;
  out.search_found = result_newcomers;
  out.search_complete = verified;
  return out;
}

}  // namespace convdyn::linalg
