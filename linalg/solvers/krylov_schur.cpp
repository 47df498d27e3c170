#include "linalg/solvers/krylov_schur.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/residuals.hpp"
#include "linalg/error.hpp"
#include "linalg/solvers/detail/krylov_schur_decomposition.hpp"
#include "linalg/solvers/detail/ordered_schur.hpp"

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
// resolve: the subspace grows by half, once (docs/solvers.md).
constexpr int kStallRestarts = 10;
// The automatic s-step length, and the size from which it is used (below it Gram–Schmidt is cheap next to
// the matvec and the plain path is kept): docs/solvers.md.
constexpr Index kAutoSStep = 16;
constexpr Index kSStepMinN = 4096;

// Ritz pairs with true residuals, already reduced to the k best in `which` order.
struct Evaluation {
  Eigen::VectorXcd values;
  Eigen::VectorXd residuals;
  Eigen::MatrixXcd vectors;
  std::vector<Index> block_start;  // position in T of the Schur block each value comes from
  bool all_converged = false;
  double worst_ratio = 0.0;  // max residual / (tol * max(1, |lambda|))
};

// Forms the Ritz vectors of `blocks` (blocks of the current Schur form T) as real rows (Re, Im), applies the
// operator to them as one block and returns the k best pairs with their true residuals.
Evaluation evaluate(const LinearOperator& op, const KrylovSchurDecomposition& dec, const Eigen::MatrixXd& T,
                    const std::vector<SchurBlock>& blocks, Index k, Which which, double tol, bool vectors) {
  const Index p = T.rows();
  Index r = 0;
  for (const auto& b : blocks) r += b.size;
  Eigen::MatrixXd Y(r, p);
  Eigen::VectorXcd block_values(static_cast<Index>(blocks.size()));
  std::vector<detail::RealRows> rows;
  Index row = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    const Eigen::VectorXcd y = detail::schur_eigenvector(T, b);
    Y.row(row) = y.real().transpose();
    if (b.size == 2) Y.row(row + 1) = y.imag().transpose();
    rows.push_back({row, b.size == 2 ? row + 1 : -1});
    block_values(static_cast<Index>(i)) = b.value;
    row += b.size;
  }
  const at::Tensor X = dec.combine(Y);
  const Eigen::VectorXd block_res = detail::pair_residuals(X, op.apply(X), block_values, rows);
  Eigen::MatrixXd Xc;
  if (vectors) Xc = detail::to_eigen(X);

  // Candidates: every value of every block (both members of a pair), then the k best.
  std::vector<cd> vals;
  std::vector<double> res;
  std::vector<Eigen::VectorXcd> vecs;
  std::vector<Index> starts;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    const auto rr = rows[i];
    Eigen::VectorXcd v;
    if (vectors) {
      v = Xc.row(rr.re).transpose().cast<cd>();
      if (rr.im >= 0) v += cd(0.0, 1.0) * Xc.row(rr.im).transpose().cast<cd>();
      v /= v.norm();
    }
    const int members = b.size == 2 ? 2 : 1;
    for (int m = 0; m < members; ++m) {
      vals.push_back(m == 0 ? b.value : std::conj(b.value));
      res.push_back(block_res(static_cast<Index>(i)));
      starts.push_back(b.start);
      if (vectors) vecs.push_back(m == 0 ? v : Eigen::VectorXcd(v.conjugate()));
    }
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

// One call of krylov_schur: the loop state and the phases of an outer iteration.
class KrylovSchurRun {
 public:
  KrylovSchurRun(const LinearOperator& op, const KrylovSchurOptions& opt)
      : op_(op),
        opt_(opt),
        n_(op.size()),
        k_(opt.k),
        m_(opt.ncv == 0 ? std::min<Index>(std::max<Index>(4 * opt.k, opt.k + 40), op.size()) : opt.ncv),
        m_max_(opt.ncv == 0 ? std::min<Index>(n_, m_ + m_ / 2) : m_),
        search_active_(std::max<Index>(m_ - k_, 8)),
        search_cands_(std::min<Index>(4, k_)),
        sstep_(opt.sstep > 0 ? opt.sstep : (op.size() >= kSStepMinN ? kAutoSStep : 1)),
        matvecs0_(op.matvecs()),
        dec_(op, m_, opt.seed, checked_start(opt.start, n_), capacity_for(m_),
             opt.reorthogonalize == Reorthogonalization::Always) {}

  EigResult run();

 private:
  // The projected problem after one expansion, and the residual estimates of its wanted blocks.
  struct Iterate {
    Eigen::MatrixXd T;
    std::vector<SchurBlock> wanted;
    std::vector<double> estimate;  // relative to max(1, |theta|)
    double worst = 0.0;
    Index locked = 0;
    bool extended = true;
  };
  enum class Step { Continue, Search, Done };

  // Room for the search rounds' candidates next to the k locked pairs.
  Index capacity_for(Index m) const { return opt_.verify ? std::min<Index>(n_, m + k_ + 16) : m; }
  Iterate expand();
  Index leading_converged(const Iterate& it, double factor) const;
  Step check(const Iterate& it, Index& nconv);
  void report(const Iterate& it, Index nconv) const;
  bool start_search_round(const Iterate& it, Index nconv);
  bool round_budget_spent(const Iterate& it);
  void restart(const Iterate& it, Index nconv);
  EigResult finish() const;

  const LinearOperator& op_;
  const KrylovSchurOptions& opt_;
  const Index n_, k_, m_, m_max_, search_active_, search_cands_, sstep_;
  const std::int64_t matvecs0_;
  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  KrylovSchurDecomposition dec_;
  // Convergence bookkeeping.
  double est_factor_ = 1.0;  // estimate threshold = est_factor * tol * max(1, |theta|)
  double best_failed_ = std::numeric_limits<double>::infinity();
  int stagnant_ = 0, restarts_ = 0;
  Index best_nconv_ = 0;
  int since_progress_ = 0;
  // Search rounds (opt.verify): wanted = the Schur blocks that start before `target_`; `search_from_` = the
  // locked count when the current round started (-1: main phase).
  Index target_ = k_, search_from_ = -1;
  int main_restarts_ = 0, round_start_ = 0;
  std::int64_t rounds_ = 0, newcomers_ = 0;
  bool verified_ = false;
  StopReason reason_ = StopReason::MaxRestarts;
  std::optional<Evaluation> result_;
};

KrylovSchurRun::Iterate KrylovSchurRun::expand() {
  Iterate it;
  it.extended = dec_.expand();
  dec_.schur(opt_.which);
  const Index p = dec_.size();
  it.T = dec_.projected().topLeftCorner(p, p);
  if (sstep_ > 1 && dec_.sstep() == 1) {
    // s-step from the next expansion on, its Newton shift at the centre of the Ritz values' real parts.
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& blk : detail::schur_blocks(it.T, 0, p)) {
      lo = std::min(lo, blk.value.real());
      hi = std::max(hi, blk.value.real());
    }
    dec_.set_sstep(sstep_, std::isfinite(lo) ? 0.5 * (lo + hi) : 0.0);
  }
  const Eigen::RowVectorXd b = dec_.projected().row(p).head(p);
  const Eigen::VectorXd& d = dec_.deflated();
  it.locked = dec_.locked();
  for (const auto& blk : detail::schur_blocks(it.T, 0, p))
    if (blk.start < target_) it.wanted.push_back(blk);
  // Residual bounds |b^T y| + sum_j |d_j y_j| of the wanted Ritz pairs (d: coefficients deflated by locking).
  it.estimate.resize(it.wanted.size());
  for (std::size_t i = 0; i < it.wanted.size(); ++i) {
    const Eigen::VectorXcd y = detail::schur_eigenvector(it.T, it.wanted[i]);
    cd s = 0.0;
    double deflation = 0.0;
    for (Index j = 0; j < p; ++j) s += b(j) * y(j);
    for (Index j = 0; j < it.locked; ++j) deflation += std::abs(d(j)) * std::abs(y(j));
    it.estimate[i] = (std::abs(s) + deflation) / scale_of(it.wanted[i].value);
    it.worst = std::max(it.worst, it.estimate[i]);
  }
  return it;
}

// End position of the leading wanted blocks whose estimate passes (never splits a pair). Locked blocks count
// as passed: their estimates are frozen, and the true-residual check judges them.
Index KrylovSchurRun::leading_converged(const Iterate& it, double factor) const {
  Index end = 0;
  for (std::size_t i = 0; i < it.wanted.size(); ++i) {
    const Index block_end = it.wanted[i].start + it.wanted[i].size;
    if (block_end > it.locked && it.estimate[i] > factor * opt_.tol) break;
    end = block_end;
  }
  return end;
}

// When the wanted estimates pass: certify with true residuals. Done (an answer), Search (start a search
// round) or Continue (estimates passed but true residuals did not: demand smaller estimates).
KrylovSchurRun::Step KrylovSchurRun::check(const Iterate& it, Index& nconv) {
  if (nconv < target_) return Step::Continue;
  auto ev = evaluate(op_, dec_, it.T, it.wanted, k_, opt_.which, opt_.tol, opt_.vectors);
  if (ev.all_converged) {
    // A pair of the running search round among the k best was missed before: search again.
    const bool newcomer = search_from_ >= 0 && std::any_of(ev.block_start.begin(), ev.block_start.end(),
                                                           [&](Index st) { return st >= search_from_; });
    const bool room = nconv + search_cands_ + 8 <= dec_.capacity();
    if (opt_.verify && (search_from_ < 0 || newcomer) && room) {
      if (newcomer) ++newcomers_;
      best_failed_ = std::numeric_limits<double>::infinity();
      stagnant_ = 0;
      return Step::Search;
    }
    reason_ = StopReason::Converged;
    verified_ = opt_.verify && room;
    result_ = std::move(ev);
    return Step::Done;
  }
  // Loss of orthogonality or an unattainable tol (rounding of the operator dtype): give up when demanding
  // smaller estimates stops helping.
  if (ev.worst_ratio < 0.5 * best_failed_) {
    best_failed_ = ev.worst_ratio;
    stagnant_ = 0;
  } else {
    ++stagnant_;
  }
  if (stagnant_ >= 2) {
    reason_ = StopReason::MaxRestarts;
    result_ = std::move(ev);
    return Step::Done;
  }
  est_factor_ *= 0.1;
  nconv = leading_converged(it, est_factor_);
  return Step::Continue;
}

void KrylovSchurRun::report(const Iterate& it, Index nconv) const {
  if (!opt_.progress) return;
  KrylovSchurProgress pr;
  pr.restart = restarts_;
  pr.converged = std::min<Index>(nconv, k_);
  pr.worst_estimate = it.worst;
  pr.matvecs = op_.matvecs() - matvecs0_;
  pr.breakdowns = dec_.breakdowns();
  pr.searching = search_from_ >= 0;
  opt_.progress(pr);
}

// Locks every wanted pair (all passed) and restarts in their orthogonal complement: the first active block
// is then the best eigenvalue of the complement. Returns false (result set) when the locked pairs span R^n.
bool KrylovSchurRun::start_search_round(const Iterate& it, Index nconv) {
  const bool fresh = dec_.restart_fresh(nconv);
  if (search_from_ < 0) main_restarts_ = restarts_;
  round_start_ = restarts_;
  search_from_ = nconv;
  target_ = nconv + search_cands_;
  dec_.set_max_size(std::min<Index>(dec_.capacity(), nconv + std::max<Index>(search_active_, search_cands_ + 4)));
  ++rounds_;
  ++restarts_;
  if (fresh) return true;
  result_ = evaluate(op_, dec_, dec_.projected().topLeftCorner(nconv, nconv), it.wanted, k_, opt_.which, opt_.tol,
                     opt_.vectors);
  reason_ = StopReason::Converged;
  verified_ = true;
  return false;
}

// A round may take as many restarts as the main phase did (at least 20); when it does not settle, the first
// convergence stands, unverified.
bool KrylovSchurRun::round_budget_spent(const Iterate& it) {
  if (search_from_ < 0 || restarts_ - round_start_ <= std::max(20, main_restarts_)) return false;
  result_ = evaluate(op_, dec_, it.T, locked_blocks(it.T, search_from_), k_, opt_.which, opt_.tol, opt_.vectors);
  reason_ = result_->all_converged ? StopReason::Converged : StopReason::MaxRestarts;
  verified_ = false;
  return true;
}

// Thick restart: lock with a margin (permanent), keep the converged blocks plus half of the rest (at least
// k, at most p-1, never splitting a pair), and grow the automatic subspace once when convergence stalls.
void KrylovSchurRun::restart(const Iterate& it, Index nconv) {
  const Index p = it.T.rows();
  const Index lock = std::max(leading_converged(it, kLockMargin * est_factor_), it.locked);
  Index keep = std::max({nconv + std::max<Index>(1, (p - nconv) / 2), target_, lock + 1});
  keep = std::min<Index>(keep, p - 1);
  if (it.T(keep, keep - 1) != 0.0) keep = keep + 1 <= p - 1 ? keep + 1 : keep - 1;
  dec_.truncate(keep, lock);
  ++restarts_;
  if (search_from_ >= 0) return;
  if (nconv > best_nconv_) {
    best_nconv_ = nconv;
    since_progress_ = 0;
  } else if (++since_progress_ >= kStallRestarts && best_nconv_ > 0 && dec_.max_size() < m_max_) {
    dec_.reserve(capacity_for(m_max_));
    dec_.set_max_size(m_max_);
    since_progress_ = 0;
  }
}

EigResult KrylovSchurRun::run() {
  while (true) {
    const Iterate it = expand();
    Index nconv = leading_converged(it, est_factor_);
    const Step step = check(it, nconv);
    report(it, nconv);
    if (step == Step::Done) break;
    if (step == Step::Search) {
      if (!start_search_round(it, nconv)) break;
      continue;
    }
    if (round_budget_spent(it)) break;
    if (!it.extended || restarts_ >= opt_.max_restarts) {
      reason_ = it.extended ? StopReason::MaxRestarts : StopReason::Breakdown;
      result_ = evaluate(op_, dec_, it.T, it.wanted, k_, opt_.which, opt_.tol, opt_.vectors);
      break;
    }
    restart(it, nconv);
  }
  return finish();
}

EigResult KrylovSchurRun::finish() const {
  EigResult out;
  out.values = result_->values;
  out.residuals = result_->residuals;
  out.vectors = result_->vectors;
  out.flag_converged(opt_.tol);
  out.method = "krylov-schur";
  out.which = opt_.which;
  out.matvecs = op_.matvecs() - matvecs0_;
  out.restarts = restarts_;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  out.reason = reason_;
  out.search_rounds = rounds_;
  out.search_found = newcomers_;
  out.search_complete = verified_;
  return out;
}
}  // namespace

Reorthogonalization parse_reorthogonalization(const std::string& s) {
  if (s == "ifneeded") return Reorthogonalization::IfNeeded;
  if (s == "always") return Reorthogonalization::Always;
  throw ValueError(fmt::format("unknown reorthogonalization '{}' (expected ifneeded or always)", s));
}

const char* to_string(Reorthogonalization r) { return r == Reorthogonalization::IfNeeded ? "ifneeded" : "always"; }

EigResult krylov_schur(const LinearOperator& op, const KrylovSchurOptions& opt) {
  check_eig_options("krylov-schur", op.size(), opt, /*min_restarts=*/0);
  CONVDYN_CHECK(opt.sstep >= 0, ValueError, "krylov-schur: sstep={} must be >= 0 (0 = automatic)", opt.sstep);
  return KrylovSchurRun(op, opt).run();
}

}  // namespace convdyn::linalg
