#include "linalg/solvers/detail/krylov_schur_decomposition.hpp"

#include <ATen/ATen.h>
#include <cblas.h>

#include <Eigen/Cholesky>
#include <Eigen/SVD>

#include <algorithm>
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
  for (Index j = p_; j < m_;) {
    if (!residual_valid_) {
      // b = 0: v_j is free; any unit vector orthogonal to the basis keeps the relation valid.
      if (!random_direction(j)) return false;
      residual_valid_ = true;
    }
    const Index sb = std::min(sstep_, m_ - j);
    if (sb >= 2 && expand_block(j, sb)) {
      j += sb;
      continue;
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
    ++j;
  }
  if (!residual_valid_) {
    if (!random_direction(p_)) return false;
    residual_valid_ = true;
  }
  return true;
}

void KrylovSchurDecomposition::set_sstep(Index s, double shift) {
  CONVDYN_ASSERT(s >= 1, "Krylov-Schur decomposition: s-step length {} must be >= 1", s);
  sstep_ = s;
  shift_ = shift;
}

namespace {
// y <- y - shift w in one pass, returning ||y|| (host float64).
double shift_and_norm(double* y, const double* w, double shift, Eigen::Index n) {
  double a = 0.0, b = 0.0;
  Eigen::Index i = 0;
  for (; i + 1 < n; i += 2) {
    const double u = y[i] - shift * w[i], v = y[i + 1] - shift * w[i + 1];
    y[i] = u;
    y[i + 1] = v;
    a += u * u;
    b += v * v;
  }
  for (; i < n; ++i) {
    const double u = y[i] - shift * w[i];
    y[i] = u;
    a += u * u;
  }
  return std::sqrt(a + b);
}
// G = W W^T for a contiguous (s, n) float64 host tensor: BLAS syrk (half the work of a GEMM, and OpenBLAS runs
// a skinny GEMM with K = n far below its peak).
Eigen::MatrixXd host_gram(const at::Tensor& W) {
  const auto s = static_cast<int>(W.size(0)), n = static_cast<int>(W.size(1));
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> G = Eigen::MatrixXd::Zero(s, s);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, s, n, 1.0, W.data_ptr<double>(), n, 0.0, G.data(), s);
  Eigen::MatrixXd out = G.triangularView<Eigen::Upper>();
  out.triangularView<Eigen::StrictlyLower>() = out.transpose();
  return out;
}
// W <- R^{-T} W in place for upper triangular R (s, s) and a contiguous (s, n) float64 host tensor.
void host_trsm_upper_t(const Eigen::MatrixXd& R, at::Tensor& W) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Rr = R;
  const auto s = static_cast<int>(W.size(0)), n = static_cast<int>(W.size(1));
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, s, n, 1.0, Rr.data(), s,
              W.data_ptr<double>(), n);
}
}  // namespace

bool KrylovSchurDecomposition::expand_block(Index j, Index sb) {
  const double eps = machine_epsilon(op_.dtype());
  // 1. Newton basis from w_0 = v_j: w_{i+1} = (A w_i - shift w_i - L c_i) / eta_i, with the components
  //    c_i along the locked vectors L = v_0 .. v_{l-1} taken out (their relation is inexact by the deflated
  //    coefficients, which would otherwise leak into the new columns), so that
  //    A [w_0 .. w_{sb-1}] = [w_0 .. w_sb] B + L Cl, B (sb+1, sb) lower bidiagonal (shift, eta).
  at::Tensor W = at::empty({sb + 1, n_}, V_.options());
  W[0].copy_(V_[j]);
  Eigen::MatrixXd B = Eigen::MatrixXd::Zero(sb + 1, sb);
  const auto L = V_.narrow(0, 0, l_);
  at::Tensor Cl = l_ > 0 ? at::zeros({l_, sb}, V_.options()) : at::Tensor();
  const bool host = V_.is_cpu() && V_.scalar_type() == at::kDouble;  // raw BLAS and loops on the host
  for (Index i = 0; i < sb; ++i) {
    at::Tensor y = op_.apply(W[i]);
    double eta = 0.0;
    if (host && l_ == 0) {
      eta = shift_and_norm(y.data_ptr<double>(), W[i].data_ptr<double>(), shift_, n_);
    } else {
      if (shift_ != 0.0) y.sub_(W[i], shift_);
      if (l_ > 0) {
        const at::Tensor c = at::mv(L, y);
        y.addmv_(L.t(), c, 1, -1);
        Cl.select(1, i).copy_(c);
      }
      eta = y.norm().item<double>();
    }
    if (!(eta > 1e3 * eps * std::max(1.0, std::abs(shift_))) || !std::isfinite(eta)) {
      ++sstep_fallbacks_;  // (nearly) invariant: single steps handle the breakdown
      return false;
    }
    at::Tensor next = W[i + 1];
    at::mul_out(next, y, at::scalar_tensor(1.0 / eta, y.options()));
    B(i, i) = shift_;
    B(i + 1, i) = eta;
  }
  // 2. Block classical Gram–Schmidt of [w_1 .. w_sb] (unit rows) against v_0 .. v_j (GEMMs), a second pass
  //    when some column lost more than 30% of its norm (always with CGS2), then CholQR2 of the block (two
  //    Cholesky QRs: Gram GEMM, a small factorisation, a triangular solve; Householder QR of an (n, sb)
  //    panel is memory-bound level-2 work): w = C^T V + R^T Q.
  at::Tensor Wn = W.narrow(0, 1, sb);
  const auto Vj = V_.narrow(0, 0, j + 1);
  at::Tensor C = at::mm(Vj, Wn.t());
  Wn.addmm_(C.t(), Vj, 1, -1);
  auto gram = [&] { return host ? host_gram(Wn) : to_eigen(at::mm(Wn, Wn.t())); };
  Eigen::MatrixXd G = gram();
  if (always_twice_ || (G.diagonal().array() < 0.717 * 0.717).any()) {
    const at::Tensor C2 = at::mm(Vj, Wn.t());
    Wn.addmm_(C2.t(), Vj, 1, -1);
    C += C2;
    G = gram();
  }
  Eigen::MatrixXd R = Eigen::MatrixXd::Identity(sb, sb);
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) G = gram();
    const Eigen::LLT<Eigen::MatrixXd> llt(G);
    const Eigen::MatrixXd Ru = llt.matrixU();
    if (llt.info() != Eigen::Success || !(Ru.diagonal().minCoeff() > 1e-7 * Ru.diagonal().maxCoeff())) {
      ++sstep_fallbacks_;  // numerically rank-deficient block
      return false;
    }
    // Wn <- Ru^{-T} Wn: solve Ru^T X = Wn (lower triangular).
    if (host) {
      host_trsm_upper_t(Ru, Wn);
    } else {
      const at::Tensor Lt = to_tensor(Ru.transpose(), Wn.options());
      Wn.copy_(at::linalg_solve_triangular(Lt, Wn, /*upper=*/false));
    }
    R = (Ru * R).eval();
  }
  // 3. The new Hessenberg columns. In coordinates Wc of [w_0 .. w_sb] on [v_0 .. v_j, q_1 .. q_sb]:
  //    A [v_j, q_1 .. q_{sb-1}] S = [V, Q] (Wc B - H_old Wc(:j, :sb)), S = Wc(j:j+sb, :sb) upper triangular.
  const Index N = j + 1 + sb;
  Eigen::MatrixXd Wc = Eigen::MatrixXd::Zero(N, sb + 1);
  Wc(j, 0) = 1.0;
  Wc.block(0, 1, j + 1, sb) = to_eigen(C);
  Wc.block(j + 1, 1, sb, sb) = R;
  const Eigen::MatrixXd S = Wc.block(j, 0, sb, sb);
  const Eigen::VectorXd sv = Eigen::JacobiSVD<Eigen::MatrixXd>(S).singularValues();
  if (!(sv(sb - 1) > 0.0) || !(sv(0) / sv(sb - 1) <= kMaxBasisCondition)) {
    ++sstep_fallbacks_;  // an ill-conditioned s-step basis would spoil the projected matrix
    return false;
  }
  Eigen::MatrixXd Hold = Eigen::MatrixXd::Zero(N, j);
  Hold.topRows(j + 1) = H_.topLeftCorner(j + 1, j);
  Eigen::MatrixXd rhs = Wc * B - Hold * Wc.topLeftCorner(j, sb);
  if (l_ > 0) rhs.topRows(l_) += to_eigen(Cl);
  // X S = rhs  <=>  S^T X^T = rhs^T (S upper triangular).
  Eigen::MatrixXd X = S.transpose().triangularView<Eigen::Lower>().solve(rhs.transpose()).transpose();
  for (Index i = 0; i < sb; ++i)
    for (Index r = j + i + 2; r < N; ++r) X(r, i) = 0.0;  // Hessenberg below row j: rounding only
  H_.block(0, j, N, sb) = X;
  V_.narrow(0, j + 1, sb).copy_(Wn);
  p_ = j + sb;
  ++sstep_blocks_;
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
  if (!always_twice_ && truncations_++ % kCheckEvery == 0) {
    // Single-pass Gram–Schmidt relies on the DGKS test; check what it delivered on the kept basis (one
    // (keep+1)^2 n GEMM, every kCheckEvery-th restart: orthogonality is lost gradually, and the final true
    // residuals are checked anyway) and fall back to CGS2.
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
