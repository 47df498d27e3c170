#include "linalg/solvers/detail/ordered_schur.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <Eigen/QR>

#include <cmath>
#include <limits>

#include "linalg/error.hpp"

namespace convdyn::linalg::detail {

namespace {
using Eigen::Index;
using Eigen::MatrixXd;
using cd = std::complex<double>;
constexpr double kEps = std::numeric_limits<double>::epsilon();

// True when `x` should come strictly before `y` in `which` order (ties keep the current order).
bool comes_before(const cd& x, const cd& y, Which which) {
  Eigen::VectorXcd v(2);
  v << y, x;
  return order_by(v, which)[0] == 1;
}

bool is_real_2x2(const MatrixXd& T, Index j) {
  return eig2x2(T(j, j), T(j, j + 1), T(j + 1, j), T(j + 1, j + 1)).first.imag() == 0.0;
}

// Triangularises the 2x2 block at j when its eigenvalues are real (a Givens rotation built from an
// eigenvector). Returns whether it split the block.
bool split_if_real(MatrixXd& T, MatrixXd& U, Index j) {
  const double a = T(j, j), b = T(j, j + 1), c = T(j + 1, j), d = T(j + 1, j + 1);
  const auto [l1, l2] = eig2x2(a, b, c, d);
  if (l1.imag() != 0.0) return false;
  Eigen::Vector2d v1(b, l1.real() - a), v2(l1.real() - d, c);
  Eigen::Vector2d v = v1.norm() >= v2.norm() ? v1 : v2;
  if (v.norm() == 0.0) {  // a multiple of the identity
    T(j + 1, j) = 0.0;
    return true;
  }
  v.normalize();
  Eigen::Matrix2d G;
  G << v(0), -v(1), v(1), v(0);
  T.middleRows(j, 2) = G.transpose() * T.middleRows(j, 2);
  T.middleCols(j, 2) = T.middleCols(j, 2) * G;
  U.middleCols(j, 2) = U.middleCols(j, 2) * G;
  T(j + 1, j) = 0.0;
  return true;
}
}  // namespace

std::pair<cd, cd> eig2x2(double a, double b, double c, double d) {
  const double p = 0.5 * (a - d);
  const double q = p * p + b * c;
  if (q >= 0.0) {
    const double z = p + std::copysign(std::sqrt(q), p);
    if (z == 0.0) return {cd(d, 0.0), cd(d, 0.0)};
    return {cd(d + z, 0.0), cd(d - b * c / z, 0.0)};
  }
  const double re = d + p, im = std::sqrt(-q);
  return {cd(re, im), cd(re, -im)};
}

std::vector<SchurBlock> schur_blocks(const MatrixXd& T, Index lo, Index hi) {
  std::vector<SchurBlock> out;
  for (Index i = lo; i < hi;) {
    if (i + 1 < hi && T(i + 1, i) != 0.0) {
      out.push_back({i, 2, eig2x2(T(i, i), T(i, i + 1), T(i + 1, i), T(i + 1, i + 1)).first});
      i += 2;
    } else {
      out.push_back({i, 1, cd(T(i, i), 0.0)});
      i += 1;
    }
  }
  return out;
}

bool swap_schur_blocks(MatrixXd& T, MatrixXd& U, Index j1, int n1, int n2) {
  if (n1 == 1 && n2 == 1) {
    const Index j2 = j1 + 1;
    const double t11 = T(j1, j1), t22 = T(j2, j2);
    const double f = T(j1, j2), g = t22 - t11, r = std::hypot(f, g);
    const double cs = r == 0.0 ? 1.0 : f / r, sn = r == 0.0 ? 0.0 : g / r;
    auto rot = [&](auto x, auto y) {  // x' = cs x + sn y, y' = cs y - sn x
      for (Index i = 0; i < x.size(); ++i) {
        const double xi = x(i), yi = y(i);
        x(i) = cs * xi + sn * yi;
        y(i) = cs * yi - sn * xi;
      }
    };
    const Index ncol = T.cols() - j2 - 1;
    if (ncol > 0) rot(T.row(j1).tail(ncol), T.row(j2).tail(ncol));
    rot(T.col(j1).head(j1), T.col(j2).head(j1));
    T(j1, j1) = t22;
    T(j2, j2) = t11;
    rot(U.col(j1), U.col(j2));
    return true;
  }
  const int nd = n1 + n2;
  const MatrixXd D = T.block(j1, j1, nd, nd);
  const double dnorm = D.cwiseAbs().maxCoeff();
  // Solve T11 X - X T22 = T12 through its Kronecker form (at most 4x4).
  const MatrixXd T11 = D.topLeftCorner(n1, n1), T22 = D.bottomRightCorner(n2, n2);
  const int nk = n1 * n2;
  MatrixXd K = MatrixXd::Zero(nk, nk);  // vec(T11 X - X T22) = K vec(X), column-major vec
  for (int c = 0; c < n2; ++c)
    for (int r = 0; r < n1; ++r) {
      const int row = c * n1 + r;
      for (int rr = 0; rr < n1; ++rr) K(row, c * n1 + rr) += T11(r, rr);
      for (int cc = 0; cc < n2; ++cc) K(row, cc * n1 + r) -= T22(cc, c);
    }
  const MatrixXd T12 = D.topRightCorner(n1, n2);
  const Eigen::VectorXd rhs = Eigen::Map<const Eigen::VectorXd>(T12.data(), nk);
  Eigen::FullPivLU<MatrixXd> lu(K);
  if (!lu.isInvertible()) return false;
  const Eigen::VectorXd x = lu.solve(rhs);
  if (!x.allFinite()) return false;
  // The columns of [X; -I] span the invariant subspace of T22's eigenvalues; its QR gives the swap.
  MatrixXd M(nd, n2);
  M.topRows(n1) = Eigen::Map<const MatrixXd>(x.data(), n1, n2);
  M.bottomRows(n2) = -MatrixXd::Identity(n2, n2);
  Eigen::HouseholderQR<MatrixXd> qr(M);
  const MatrixXd Q = qr.householderQ() * MatrixXd::Identity(nd, nd);
  const MatrixXd D2 = Q.transpose() * D * Q;
  // dlaexc's stability test: the block that must vanish has to be negligible.
  const double thresh = std::max(100.0 * kEps * dnorm, std::numeric_limits<double>::min());
  if (!(D2.bottomLeftCorner(n1, n2).cwiseAbs().maxCoeff() <= thresh)) return false;
  T.middleRows(j1, nd) = (Q.transpose() * T.middleRows(j1, nd)).eval();
  T.middleCols(j1, nd) = (T.middleCols(j1, nd) * Q).eval();
  U.middleCols(j1, nd) = (U.middleCols(j1, nd) * Q).eval();
  T.block(j1 + n2, j1, n1, n2).setZero();
  return true;
}

void sort_schur(MatrixXd& T, MatrixXd& U, Index lo, Which which) {
  const Index N = T.rows();
  // Each pass either finishes or splits a 2x2 block with real eigenvalues (which only happens for
  // pairs that are real to rounding), so the number of passes is bounded by the number of blocks.
  for (Index pass = 0; pass <= N; ++pass) {
    for (const auto& b : schur_blocks(T, lo, N))
      if (b.size == 2) split_if_real(T, U, b.start);
    auto blocks = schur_blocks(T, lo, N);
    bool split = false;
    for (std::size_t i = 1; i < blocks.size() && !split; ++i) {
      // Insertion sort: move block i up while it should precede its upper neighbour.
      for (std::size_t s = i; s > 0 && comes_before(blocks[s].value, blocks[s - 1].value, which); --s) {
        const Index j1 = blocks[s - 1].start;
        const int n1 = blocks[s - 1].size, n2 = blocks[s].size;
        if (!swap_schur_blocks(T, U, j1, n1, n2)) break;  // nearly equal eigenvalues: keep order
        const SchurBlock upper{j1, n2, blocks[s].value}, lower{j1 + n2, n1, blocks[s - 1].value};
        blocks[s - 1] = upper;
        blocks[s] = lower;
        if ((n2 == 2 && is_real_2x2(T, j1)) || (n1 == 2 && is_real_2x2(T, j1 + n2))) {
          split = true;
          break;
        }
      }
    }
    if (!split) return;
  }
}

void ordered_schur(const MatrixXd& A, Index lo, Which which, MatrixXd& T, MatrixXd& U) {
  const Index N = A.rows(), na = N - lo;
  CONVDYN_ASSERT(A.cols() == N && lo >= 0 && lo <= N, "ordered_schur: bad sizes {}x{}, lo={}", A.rows(),
                 A.cols(), lo);
  U = MatrixXd::Identity(N, N);
  T = MatrixXd::Zero(N, N);
  T.topLeftCorner(lo, lo) = A.topLeftCorner(lo, lo);
  if (na == 0) return;
  Eigen::RealSchur<MatrixXd> schur(A.bottomRightCorner(na, na), /*computeU=*/true);
  CONVDYN_ASSERT(schur.info() == Eigen::Success, "ordered_schur: real Schur of a {}x{} matrix failed", na,
                 na);
  MatrixXd Ta = schur.matrixT();
  for (Index j = 0; j < na; ++j)
    for (Index i = j + 2; i < na; ++i) Ta(i, j) = 0.0;
  const MatrixXd& Ua = schur.matrixU();
  T.bottomRightCorner(na, na) = Ta;
  T.topRightCorner(lo, na) = A.topRightCorner(lo, na) * Ua;
  U.bottomRightCorner(na, na) = Ua;
  sort_schur(T, U, lo, which);
}

Eigen::VectorXcd schur_eigenvector(const MatrixXd& T, const SchurBlock& block) {
  const Index N = T.rows(), end = block.start + block.size;
  const cd lambda = block.value;
  const double smin = std::max(kEps * T.cwiseAbs().maxCoeff(), std::numeric_limits<double>::min());
  Eigen::VectorXcd y = Eigen::VectorXcd::Zero(N);
  if (block.size == 1) {
    y(block.start) = 1.0;
  } else {
    const Index j = block.start;
    const double a = T(j, j), b = T(j, j + 1), c = T(j + 1, j), d = T(j + 1, j + 1);
    Eigen::Vector2cd z1(b, lambda - a), z2(lambda - d, c);
    y.segment(j, 2) = (z1.norm() >= z2.norm() ? z1 : z2).normalized();
  }
  const auto blocks = schur_blocks(T, 0, block.start);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    const Index bs = it->start, bz = it->size, be = bs + bz;
    const Eigen::VectorXcd rhs =
        -(T.block(bs, be, bz, end - be).cast<cd>() * y.segment(be, end - be)).eval();
    if (bz == 1) {
      cd den = T(bs, bs) - lambda;
      if (std::abs(den) < smin) den = smin;
      y(bs) = rhs(0) / den;
    } else {
      Eigen::Matrix2cd M = T.block(bs, bs, 2, 2).cast<cd>();
      M.diagonal().array() -= lambda;
      cd det = M(0, 0) * M(1, 1) - M(0, 1) * M(1, 0);
      if (std::abs(det) < smin * M.cwiseAbs().maxCoeff()) {
        M.diagonal().array() += smin;
        det = M(0, 0) * M(1, 1) - M(0, 1) * M(1, 0);
      }
      y(bs) = (M(1, 1) * rhs(0) - M(0, 1) * rhs(1)) / det;
      y(bs + 1) = (M(0, 0) * rhs(1) - M(1, 0) * rhs(0)) / det;
    }
    const double nrm = y.norm();
    if (nrm > 1e100) y /= nrm;  // non-normal T: keep the back substitution in range
  }
  return y.normalized();
}

}  // namespace convdyn::linalg::detail
