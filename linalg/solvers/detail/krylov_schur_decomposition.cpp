#include "linalg/solvers/detail/krylov_schur_decomposition.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/random.hpp"
#include "linalg/error.hpp"
#include "linalg/scalar_type.hpp"
#include "linalg/solvers/detail/ordered_schur.hpp"

namespace convdyn::linalg::detail {


KrylovSchurDecomposition::KrylovSchurDecomposition(const LinearOperator& op, Index m, std::uint64_t seed,
                                                   const at::Tensor& start, Index capacity, bool always_twice)
    : op_(op), n_(op.size()), m_(m), cap_(std::max(capacity, m)), always_twice_(always_twice), rng_(seed) {
  CONVDYN_ASSERT(m >= 1 && cap_ <= n_, "Krylov-Schur decomposition: m={} (capacity {}) outside [1, {}]", m, cap_,
                 n_);
  const auto opts = at::TensorOptions().dtype(op.dtype()).device(op.device());
  V_ = at::zeros({cap_ + 1, n_}, opts);
  H_ = Eigen::MatrixXd::Zero(cap_ + 1, cap_);
  deflated_ = Eigen::VectorXd::Zero(cap_);
  at::Tensor v0 = start.defined() ? start.detach().reshape({n_}).to(op.device(), op.dtype()) : random_vector();
  const double nrm = v0.norm().item<double>();
  CONVDYN_ASSERT(nrm > 0.0 && std::isfinite(nrm), "Krylov-Schur decomposition: start vector norm {}", nrm);
  V_[0].copy_(v0 / nrm);
}

at::Tensor KrylovSchurDecomposition::random_vector() {
  return normal_block(rng_, 1, n_, at::TensorOptions().dtype(op_.dtype()).device(op_.device())).reshape({n_});
}

std::pair<double, double> KrylovSchurDecomposition::orthogonalize(at::Tensor& w, Index j,
                                                                  Eigen::VectorXd* h) const {
  const auto Vj = V_.narrow(0, 0, j);
  std::vector<at::Tensor> norms{w.norm()};
  auto hsum = at::mv(Vj, w);
  w.addmv_(Vj.t(), hsum, 1, -1);
  norms.push_back(w.norm());
  if (always_twice_) {
    const auto h2 = at::mv(Vj, w);
    w.addmv_(Vj.t(), h2, 1, -1);
    hsum = hsum + h2;
    norms.push_back(w.norm());
  }
  // One device-to-host transfer per step: coefficients and the norms together.
  const auto packed = at::cat({hsum, at::stack(norms)}).to(at::kCPU, at::kDouble).contiguous();
  const double* p = packed.data_ptr<double>();
  if (h) *h = Eigen::Map<const Eigen::VectorXd>(p, j);
  const auto last = static_cast<Index>(norms.size()) - 1;
  const double norm_in = p[j], norm_prev = p[j + last - 1];
  double norm_out = p[j + last];
  if (norm_out < 0.717 * norm_prev && norm_out > 0.0) {  // DGKS criterion: one more pass
    const auto h3 = at::mv(Vj, w);
    w.addmv_(Vj.t(), h3, 1, -1);
    if (h) *h += Eigen::Map<const Eigen::VectorXd>(h3.to(at::kCPU, at::kDouble).contiguous().data_ptr<double>(), j);
    norm_out = w.norm().item<double>();
  }
  return {norm_in, norm_out};
}

double KrylovSchurDecomposition::orthogonality_limit() const noexcept { return 1000.0 * machine_epsilon(op_.dtype()); }

double KrylovSchurDecomposition::orthogonality_error(Index r) const {
  const auto Vr = V_.narrow(0, 0, r);
  const auto G = at::mm(Vr, Vr.t());
  G.diagonal().sub_(1.0);
  return G.abs().max().item<double>();
}

bool KrylovSchurDecomposition::random_direction(Index j) {
  if (j >= n_) return false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = random_vector();
    const auto [before, after] = orthogonalize(r, j, nullptr);
    if (after > 1e-3 * before) {
      V_[j].copy_(r / after);
      return true;
    }
  }
  return false;
}

bool KrylovSchurDecomposition::expand() {
  const double eps = machine_epsilon(op_.dtype());
  pending_ = false;
  U_.resize(0, 0);
  for (Index j = p_; j < m_; ++j) {
    if (!residual_valid_) {
      // b = 0: v_j is free; any unit vector orthogonal to the basis keeps the relation valid.
      if (!random_direction(j)) return false;
      residual_valid_ = true;
    }
    auto w = op_.apply(V_[j]);
    Eigen::VectorXd h;
    const auto [norm_in, beta] = orthogonalize(w, j + 1, &h);
    H_.col(j).head(j + 1) = h;
    p_ = j + 1;
    if (beta <= 100.0 * eps * norm_in || beta == 0.0) {
      H_(j + 1, j) = 0.0;
      ++breakdowns_;
      residual_valid_ = false;
      V_[j + 1].zero_();
    } else {
      H_(j + 1, j) = beta;
      V_[j + 1].copy_(w.div_(beta));
    }
  }
  if (!residual_valid_) {
    if (!random_direction(p_)) return false;
    residual_valid_ = true;
  }
  return true;
}

void KrylovSchurDecomposition::schur(Which which) {
  CONVDYN_ASSERT(!pending_, "Krylov-Schur decomposition: schur() called twice without truncate()");
  const Eigen::MatrixXd S = H_.topLeftCorner(p_, p_);
  Eigen::MatrixXd T;
  ordered_schur(S, l_, which, T, U_);
  H_.topLeftCorner(p_, p_) = T;
  H_.row(p_).head(p_) = (H_.row(p_).head(p_) * U_).eval();
  schur_lock_ = l_;
  pending_ = true;
}

void KrylovSchurDecomposition::truncate(Index keep, Index lock) {
  CONVDYN_ASSERT(pending_, "Krylov-Schur decomposition: truncate() needs schur() first");
  CONVDYN_ASSERT(keep >= 1 && keep <= p_ && lock >= l_ && lock <= keep,
                 "Krylov-Schur decomposition: truncate(keep={}, lock={}) with size {}", keep, lock, p_);
  CONVDYN_ASSERT(keep == p_ || H_(keep, keep - 1) == 0.0, "truncate(keep={}) splits a 2x2 block", keep);
  CONVDYN_ASSERT(lock == 0 || lock == p_ || H_(lock, lock - 1) == 0.0, "truncate(lock={}) splits a 2x2 block",
                 lock);
  const Index lo = schur_lock_;
  if (keep > lo) {
    // v_i <- sum_j U(j, i) v_j for lo <= i < keep; U is the identity on the locked rows [0, lo).
    const auto Ut = to_tensor(U_.block(lo, lo, p_ - lo, keep - lo).transpose(), V_.options());
    const auto updated = at::mm(Ut, V_.narrow(0, lo, p_ - lo));
    V_.narrow(0, lo, keep - lo).copy_(updated);
  }
  if (keep < p_) V_[keep].copy_(V_[p_]);
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(cap_ + 1, cap_);
  H.topLeftCorner(keep, keep) = H_.topLeftCorner(keep, keep);
  H.row(keep).head(keep) = H_.row(p_).head(keep);
  for (Index j = l_; j < lock; ++j) {  // deflation of the newly locked columns
    deflated_(j) = H(keep, j);
    H(keep, j) = 0.0;
  }
  H_ = std::move(H);
  p_ = keep;
  l_ = lock;
  pending_ = false;
  U_.resize(0, 0);
  if (!always_twice_) {
    // Single-pass Gram–Schmidt relies on the DGKS test; check what it delivered on the kept basis (one
    // (keep+1)^2 n GEMM per restart, a few % of the Arnoldi steps in between) and fall back to CGS2.
    const double err = orthogonality_error(keep + (residual_valid_ ? 1 : 0));
    loss_ = std::max(loss_, err);
    if (!(err <= orthogonality_limit())) {
      always_twice_ = true;
      ++fallbacks_;
    }
  }
}

void KrylovSchurDecomposition::set_max_size(Index m) {
  CONVDYN_ASSERT(m >= p_ && m <= cap_, "Krylov-Schur decomposition: max size {} outside [{}, {}]", m, p_, cap_);
  m_ = m;
}

void KrylovSchurDecomposition::reserve(Index capacity) {
  CONVDYN_ASSERT(capacity <= n_, "Krylov-Schur decomposition: capacity {} > n = {}", capacity, n_);
  if (capacity <= cap_) return;
  auto V = at::zeros({capacity + 1, n_}, V_.options());
  V.narrow(0, 0, p_ + 1).copy_(V_.narrow(0, 0, p_ + 1));
  V_ = std::move(V);
  Eigen::MatrixXd H = Eigen::MatrixXd::Zero(capacity + 1, capacity);
  H.topLeftCorner(cap_ + 1, cap_) = H_;
  H_ = std::move(H);
  deflated_.conservativeResizeLike(Eigen::VectorXd::Zero(capacity));
  cap_ = capacity;
}

bool KrylovSchurDecomposition::restart_fresh(Index lock) {
  truncate(lock, lock);
  residual_valid_ = random_direction(p_);
  return residual_valid_;
}

at::Tensor KrylovSchurDecomposition::combine(const Eigen::MatrixXd& Y) const {
  CONVDYN_ASSERT(Y.cols() == p_, "combine: {} coefficients for a basis of size {}", Y.cols(), p_);
  const Eigen::MatrixXd C = pending_ ? Eigen::MatrixXd(Y * U_.transpose()) : Y;
  return at::mm(to_tensor(C, V_.options()), V_.narrow(0, 0, p_));
}

}  // namespace convdyn::linalg::detail
