// Pseudospectra by inverse Lanczos on the Schur factor: sigma_min against dense SVDs (random, Jordan-like,
// conv-like) and the closed form of a normal matrix, the exact-eigenvalue and tiny-sigma edges, grids (serial
// vs threads), the eps-pseudospectral abscissa (closed form, brute force) and the distance to instability
// (closed forms, a 2x2 by hand), and the failure paths.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/solvers/pseudospectrum.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;

namespace {

Eigen::MatrixXd gaussian(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd a(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) a(i, j) = normal(gen);
  return a;
}

Eigen::MatrixXd random_orthogonal(Eigen::Index n, std::uint64_t seed) {
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian(n, n, seed));
  return qr.householderQ() * Eigen::MatrixXd::Identity(n, n);
}

/// G / sqrt(n) plus a strictly upper triangular part: eigenvalues in about the unit disk, non-normal.
Eigen::MatrixXd random_non_normal(Eigen::Index n, std::uint64_t seed, double upper = 0.5) {
  Eigen::MatrixXd w = gaussian(n, n, seed) / std::sqrt(double(n));
  w += upper * Eigen::MatrixXd(gaussian(n, n, seed + 1).triangularView<Eigen::StrictlyUpper>()) /
       std::sqrt(double(n));
  return w;
}

/// Q (lambda I + J) Q^T with J the ones on the superdiagonal: one defective eigenvalue of multiplicity n, whose
/// eps-pseudospectrum is about the disk of radius eps^(1/n) (Trefethen & Embree, ch. 2).
Eigen::MatrixXd jordan_like(Eigen::Index n, double lambda, std::uint64_t seed) {
  Eigen::MatrixXd j = lambda * Eigen::MatrixXd::Identity(n, n);
  for (Eigen::Index i = 0; i + 1 < n; ++i) j(i, i + 1) = 1.0;
  const Eigen::MatrixXd q = random_orthogonal(n, seed);
  return q * j * q.transpose();
}

/// A normal real matrix Q D Q^T with the given real eigenvalues and complex pairs a +- ib (D block diagonal).
struct Normal {
  Eigen::MatrixXd w;
  std::vector<cd> eigenvalues;
};
Normal normal_matrix(const std::vector<double>& real, const std::vector<cd>& pairs, std::uint64_t seed) {
  const Eigen::Index n = Eigen::Index(real.size() + 2 * pairs.size());
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(n, n);
  Normal out;
  Eigen::Index k = 0;
  for (double r : real) d(k, k) = r, ++k, out.eigenvalues.push_back(r);
  for (cd p : pairs) {
    d(k, k) = d(k + 1, k + 1) = p.real();
    d(k, k + 1) = p.imag();
    d(k + 1, k) = -p.imag();
    k += 2;
    out.eigenvalues.push_back(p);
    out.eigenvalues.push_back(std::conj(p));
  }
  const Eigen::MatrixXd q = random_orthogonal(n, seed);
  out.w = q * d * q.transpose();
  return out;
}

/// A reference normal matrix: 20 real eigenvalues in [-1, 0.5], 20 pairs with Re in [-1, 0.6], and the rightmost
/// eigenvalue the pair 0.8 +- 0.37i (or, with `real_rightmost`, also the real eigenvalue 0.9).
Normal reference_normal(bool real_rightmost = false) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> real;
  std::vector<cd> pairs;
  for (int i = 0; i < 20; ++i) real.push_back(-1.0 + 1.5 * u(gen));
  for (int i = 0; i < 19; ++i) pairs.emplace_back(-1.0 + 1.6 * u(gen), 0.05 + 0.95 * u(gen));
  pairs.emplace_back(0.8, 0.37);
  if (real_rightmost) real.push_back(0.9);
  return normal_matrix(real, pairs, 11);
}

/// A single-channel 3x3 convolution on an s x s image with zero padding: banded, Toeplitz-block, non-normal.
Eigen::MatrixXd conv_matrix(int s) {
  const double k[3][3] = {{0.05, 0.30, -0.10}, {0.25, 0.40, 0.15}, {-0.20, 0.10, 0.35}};
  const int n = s * s;
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(n, n);
  for (int r = 0; r < s; ++r)
    for (int c = 0; c < s; ++c)
      for (int dr = -1; dr <= 1; ++dr)
        for (int dc = -1; dc <= 1; ++dc) {
          const int rr = r + dr, cc = c + dc;
          if (rr >= 0 && rr < s && cc >= 0 && cc < s) w(r * s + c, rr * s + cc) = k[dr + 1][dc + 1];
        }
  return w;
}

double dense_sigma_min(const Eigen::MatrixXd& w, cd z) {
  const Eigen::MatrixXcd m = z * Eigen::MatrixXcd::Identity(w.rows(), w.cols()) - w.cast<cd>();
  return Eigen::BDCSVD<Eigen::MatrixXcd>(m).singularValues().minCoeff();
}

double distance_to_spectrum(const std::vector<cd>& ev, cd z) {
  double d = INFINITY;
  for (cd l : ev) d = std::min(d, std::abs(z - l));
  return d;
}

/// Points spread over a window: a fixed pseudo-random sample.
std::vector<cd> sample_points(int count, double re_lo, double re_hi, double im_lo, double im_hi,
                              std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> ure(re_lo, re_hi), uim(im_lo, im_hi);
  std::vector<cd> z;
  for (int i = 0; i < count; ++i) {
    const double re = ure(gen);
    z.emplace_back(re, uim(gen));
  }
  return z;
}

/// sigma agrees with the dense reference to `rel` relative where the reference is above `floor` ||W||, and to
/// `abs_tol` ||W|| absolutely below (where the SVD itself has only absolute accuracy). Returns the points
/// compared relatively.
int expect_matches_svd(const SchurPseudospectrum& ps, const Eigen::MatrixXd& w, const std::vector<cd>& zs,
                       double rel = 1e-8, double floor = 1e-6, double abs_tol = 1e-12) {
  const double norm = w.norm();
  int relative = 0;
  for (cd z : zs) {
    const SigmaMin s = ps.sigma_min(z);
    const double ref = dense_sigma_min(w, z);
    EXPECT_TRUE(s.converged) << "z = " << z;
    EXPECT_TRUE(std::isfinite(s.value)) << "z = " << z;
    if (ref > floor * norm) {
      EXPECT_NEAR(s.value, ref, rel * ref) << "z = " << z << ", iterations " << s.iterations;
      ++relative;
    } else {
      EXPECT_NEAR(s.value, ref, abs_tol * norm) << "z = " << z;
    }
  }
  return relative;
}

// 2x2 closed form: sigma_max^2 = (f + sqrt(f^2 - 4 |det|^2)) / 2 with f = ||M||_F^2, sigma_min = |det| / sigma_max.
double sigma_min_2x2(const Eigen::Matrix2cd& m) {
  const double f = m.squaredNorm();
  const double det = std::abs(m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0));
  const double smax = std::sqrt(0.5 * (f + std::sqrt(std::max(0.0, f * f - 4 * det * det))));
  return det / smax;
}

template <class F>
double golden_min(const F& f, double a, double b, double tol) {
  const double r = 0.5 * (std::sqrt(5.0) - 1.0);
  double c = b - r * (b - a), d = a + r * (b - a), fc = f(c), fd = f(d);
  while (b - a > tol) {
    if (fc < fd) {
      b = d, d = c, fd = fc, c = b - r * (b - a), fc = f(c);
    } else {
      a = c, c = d, fc = fd, d = a + r * (b - a), fd = f(d);
    }
  }
  return std::min(fc, fd);
}

/// Brute force along a row: with sigma(lo) <= eps < sigma(hi), bisection on the dense SVD.
double dense_crossing(const Eigen::MatrixXd& w, double y, double lo, double hi, double eps, double tol) {
  while (hi - lo > tol) {
    const double mid = 0.5 * (lo + hi);
    (dense_sigma_min(w, cd(mid, y)) <= eps ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// sigma_min at points

TEST(Pseudospectrum, MatchesDenseSvdOnRandomNonNormal) {
  const Eigen::MatrixXd w = random_non_normal(60, 1);
  const SchurPseudospectrum ps(w);
  EXPECT_EQ(ps.n(), 60);
  const auto zs = sample_points(40, -1.6, 1.6, -1.4, 1.4, 2);
  EXPECT_EQ(expect_matches_svd(ps, w, zs), 40);
  // The stopping test works: well before the Krylov space fills C^60.
  std::vector<int> its;
  for (cd z : zs) its.push_back(ps.sigma_min(z).iterations);
  std::nth_element(its.begin(), its.begin() + 20, its.end());
  EXPECT_LE(its[20], 25);
}

TEST(Pseudospectrum, MatchesDenseSvdOnJordanLike) {
  const Eigen::MatrixXd w = jordan_like(40, 0.5, 3);
  const SchurPseudospectrum ps(w);
  std::vector<cd> zs;
  for (double r : {0.3, 0.6, 0.8, 0.9, 1.0, 1.2, 1.6, 2.5})
    for (double phi : {0.0, 0.7, 1.9, 3.1, 4.4}) zs.push_back(0.5 + std::polar(r, phi));
  EXPECT_GE(expect_matches_svd(ps, w, zs), 20);
  // Far from normal: at distance 0.6 from the only exact eigenvalue, sigma_min is below 1e-6 (the eps-
  // pseudospectra are disks of radius about eps^(1/40)); a normal matrix would give 0.6.
  EXPECT_LT(ps.sigma_min(0.5 + std::polar(0.6, 1.0)).value, 1e-6);
}

TEST(Pseudospectrum, NormalMatrixIsDistanceToSpectrum) {
  const Normal nm = reference_normal();
  const SchurPseudospectrum ps(nm.w);
  for (cd z : sample_points(60, -1.5, 1.5, -1.3, 1.3, 5)) {
    const double exact = distance_to_spectrum(nm.eigenvalues, z);
    const SigmaMin s = ps.sigma_min(z);
    EXPECT_TRUE(s.converged);
    EXPECT_NEAR(s.value, exact, 1e-8 * exact + 1e-14) << "z = " << z;
  }
  // Equidistant from 0.8 + 0.37i and its conjugate: a double smallest singular value.
  EXPECT_NEAR(ps.sigma_min(cd(1.0, 0.0)).value, std::abs(cd(0.2, 0.37)), 1e-12);
}

TEST(Pseudospectrum, MatchesDenseSvdOnBandedConv) {
  const Eigen::MatrixXd w = conv_matrix(8);
  const SchurPseudospectrum ps(w);
  EXPECT_EQ(expect_matches_svd(ps, w, sample_points(40, -1.0, 2.0, -1.2, 1.2, 8)), 40);
}

TEST(Pseudospectrum, ConjugateSymmetryAndFromSchur) {
  const Eigen::MatrixXd w = random_non_normal(30, 21);
  const SchurPseudospectrum ps(w);
  EXPECT_TRUE(ps.conjugate_symmetric());
  Eigen::ComplexSchur<Eigen::MatrixXd> schur(30);
  schur.compute(w, false);
  const auto from_t = SchurPseudospectrum::from_schur(schur.matrixT(), true);
  for (cd z : sample_points(10, -1.5, 1.5, 0.1, 1.5, 22)) {
    const double s = ps.sigma_min(z).value;
    EXPECT_NEAR(ps.sigma_min(std::conj(z)).value, s, 1e-10 * s);
    EXPECT_NEAR(from_t.sigma_min(z).value, s, 1e-12 * s);  // the same T (up to the exact scaling of W)
  }
  EXPECT_LE(ps.norm2_upper_bound(), w.norm());
  EXPECT_GE(ps.norm2_upper_bound(), Eigen::JacobiSVD<Eigen::MatrixXd>(w).singularValues()(0));
}

TEST(Pseudospectrum, WorkspaceReuseDoesNotChangeResults) {
  const Eigen::MatrixXd w = random_non_normal(25, 31);
  const SchurPseudospectrum ps(w);
  PseudospectrumWorkspace ws;
  PseudospectrumOptions few;
  few.max_iterations = 3;
  ps.sigma_min(cd(0.3, 0.2), few, ws);  // leaves a smaller basis behind
  for (cd z : sample_points(5, -1, 1, -1, 1, 32)) EXPECT_EQ(ps.sigma_min(z, {}, ws).value, ps.sigma_min(z).value);
}

// ---------------------------------------------------------------------------------------------------------------
// Edges and failure paths

TEST(Pseudospectrum, ExactEigenvalueGivesZero) {
  const Eigen::MatrixXd d = Eigen::Vector3d(0.3, -0.7, 2.0).asDiagonal();
  const SchurPseudospectrum ps(d);
  for (double l : {0.3, -0.7, 2.0}) {
    const SigmaMin s = ps.sigma_min(cd(l, 0.0));
    EXPECT_EQ(s.value, 0.0);
    EXPECT_TRUE(s.converged);
    EXPECT_EQ(s.iterations, 0);
  }
  EXPECT_NEAR(ps.sigma_min(cd(0.0, 1.0)).value, std::abs(cd(-0.3, 1.0)), 1e-14);
  Eigen::Matrix2d t;
  t << 1.0, 2.0, 0.0, 3.0;  // triangular: T = W exactly
  EXPECT_EQ(SchurPseudospectrum(t).sigma_min(cd(3.0, 0.0)).value, 0.0);
}

TEST(Pseudospectrum, NearEigenvalueIsTinyAndFinite) {
  const Eigen::MatrixXd d = Eigen::Vector3d(0.3, -0.7, 2.0).asDiagonal();
  const SchurPseudospectrum ps(d);
  // 1e-300 away: still computed to full relative accuracy (the operator is rescaled after its first application).
  const SigmaMin near = ps.sigma_min(cd(0.3, 1e-300));
  EXPECT_TRUE(near.converged);
  EXPECT_NEAR(near.value, 1e-300, 1e-306);
  // A subnormal distance: the solve overflows, 0 (or a tiny bound) comes back, not NaN.
  const SigmaMin sub = ps.sigma_min(cd(0.3, 1e-320));
  EXPECT_TRUE(sub.converged);
  EXPECT_TRUE(std::isfinite(sub.value));
  EXPECT_LE(sub.value, 1e-300);
  // A Jordan block of size 40 at distance 1e-10: sigma_min ~ 1e-400 underflows; the solves overflow.
  Eigen::MatrixXd j = Eigen::MatrixXd::Zero(40, 40);
  for (int i = 0; i + 1 < 40; ++i) j(i, i + 1) = 1.0;
  const SchurPseudospectrum pj(j);
  const SigmaMin deep = pj.sigma_min(cd(1e-10, 0.0));
  EXPECT_TRUE(deep.converged);
  EXPECT_TRUE(std::isfinite(deep.value));
  EXPECT_GE(deep.value, 0.0);
  EXPECT_LE(deep.value, 1e-300);
  // ... and at distance 0.5, where sigma_min ~ 0.5^40 is tiny but representable: the dense SVD agrees absolutely.
  const double s = pj.sigma_min(cd(0.5, 0.0)).value;
  EXPECT_NEAR(s, dense_sigma_min(j, cd(0.5, 0.0)), 1e-15);
  EXPECT_GT(s, 0.0);
}

TEST(Pseudospectrum, OneByOne) {
  const SchurPseudospectrum ps(Eigen::MatrixXd::Constant(1, 1, 3.0));
  EXPECT_EQ(ps.n(), 1);
  const SigmaMin s = ps.sigma_min(cd(1.0, 2.0));
  EXPECT_NEAR(s.value, std::abs(cd(-2.0, 2.0)), 1e-15);
  EXPECT_TRUE(s.converged);
  EXPECT_EQ(s.iterations, 1);
  EXPECT_EQ(ps.sigma_min(cd(3.0, 0.0)).value, 0.0);
  const Window win = default_window(ps);
  EXPECT_LT(win.re_lo, 3.0);
  EXPECT_GT(win.re_hi, 3.0);
  EXPECT_LT(win.im_lo, 0.0);
  EXPECT_GT(win.im_hi, 0.0);
}

TEST(Pseudospectrum, ExtremeScales) {
  const Eigen::MatrixXd w = random_non_normal(20, 41);
  const SchurPseudospectrum ps(w);
  for (double f : {1e-200, 1e200}) {
    const SchurPseudospectrum scaled(f * w);
    for (cd z : sample_points(4, -1, 1, -1, 1, 42)) {
      const double s = ps.sigma_min(z).value;
      EXPECT_NEAR(scaled.sigma_min(f * z).value / f, s, 1e-9 * s) << "scale " << f << ", z = " << z;
    }
  }
  const double far = ps.sigma_min(cd(1e305, 0.0)).value;  // |z| >> ||W||: sigma_min = |z| to every digit
  EXPECT_NEAR(far / 1e305, 1.0, 1e-14);
  EXPECT_NEAR(ps.sigma_min(cd(0.0, 1e8)).value, dense_sigma_min(w, cd(0.0, 1e8)), 1e-10 * 1e8);
}

TEST(Pseudospectrum, OneIterationIsAnUnconvergedUpperBound) {
  const Eigen::MatrixXd w = random_non_normal(60, 51);
  const SchurPseudospectrum ps(w);
  PseudospectrumOptions one;
  one.max_iterations = 1;
  int strictly_above = 0;
  for (cd z : sample_points(8, -1, 1, -1, 1, 52)) {
    const SigmaMin s = ps.sigma_min(z, one);
    const double ref = dense_sigma_min(w, z);
    EXPECT_FALSE(s.converged);
    EXPECT_EQ(s.iterations, 1);
    EXPECT_GE(s.value, ref * (1 - 1e-12));
    strictly_above += s.value > ref * (1 + 1e-6);
  }
  EXPECT_GT(strictly_above, 0);
}

TEST(Pseudospectrum, RejectsBadInput) {
  EXPECT_THROW(SchurPseudospectrum(Eigen::MatrixXd(2, 3)), ValueError);
  EXPECT_THROW(SchurPseudospectrum(Eigen::MatrixXd(0, 0)), ValueError);
  Eigen::MatrixXd nan = Eigen::MatrixXd::Identity(3, 3);
  nan(1, 2) = NAN;
  EXPECT_THROW(SchurPseudospectrum{nan}, ValueError);
  nan(1, 2) = INFINITY;
  EXPECT_THROW(SchurPseudospectrum{nan}, ValueError);
  Eigen::MatrixXcd lower = Eigen::MatrixXcd::Identity(3, 3);
  lower(2, 0) = 1e-30;
  EXPECT_THROW(SchurPseudospectrum::from_schur(lower), ValueError);

  const SchurPseudospectrum ps(Eigen::MatrixXd::Identity(3, 3));
  PseudospectrumOptions bad;
  bad.tol = 0;
  EXPECT_THROW(ps.sigma_min(cd(0.5, 0.0), bad), ValueError);
  bad.tol = 1e-10;
  bad.max_iterations = 0;
  EXPECT_THROW(ps.sigma_min(cd(0.5, 0.0), bad), ValueError);
  EXPECT_THROW(ps.sigma_min(cd(NAN, 0.0)), ValueError);
  EXPECT_THROW(sigma_min_grid(ps, Eigen::VectorXd::Zero(2), Eigen::VectorXd::Zero(2), {}, 0), ValueError);
  EXPECT_THROW(default_window(ps, -1.0), ValueError);

  const PseudospectrumGrid grid = sigma_min_grid(ps, Eigen::Vector2d(0.0, 2.0), Eigen::Vector2d(-1.0, 1.0));
  EXPECT_THROW(pseudospectral_abscissa(ps, grid, 0.0), ValueError);
  PseudospectrumGrid reversed = grid;
  reversed.re = Eigen::Vector2d(2.0, 0.0);
  EXPECT_THROW(pseudospectral_abscissa(ps, reversed, 0.1), ValueError);
  InstabilityOptions io;
  io.samples = 1;
  EXPECT_THROW(distance_to_instability(ps, io), ValueError);
  io.samples = 300;
  io.c = NAN;
  EXPECT_THROW(distance_to_instability(ps, io), ValueError);
}

// ---------------------------------------------------------------------------------------------------------------
// Grids

TEST(PseudospectrumGrid, MatchesPointwiseDenseSvd) {
  const Eigen::MatrixXd w = random_non_normal(40, 61);
  const SchurPseudospectrum ps(w);
  const PseudospectrumGrid g = sigma_min_grid(ps, Eigen::VectorXd::LinSpaced(15, -1.5, 1.5),
                                              Eigen::VectorXd::LinSpaced(12, -1.2, 1.2));
  ASSERT_EQ(g.sigma.rows(), 12);
  ASSERT_EQ(g.sigma.cols(), 15);
  EXPECT_TRUE(g.all_converged());
  EXPECT_EQ(g.max_iterations_used, g.iterations.maxCoeff());
  for (Eigen::Index i = 0; i < 12; ++i)
    for (Eigen::Index j = 0; j < 15; ++j) {
      const double ref = dense_sigma_min(w, cd(g.re(j), g.im(i)));
      EXPECT_NEAR(g.sigma(i, j), ref, 1e-8 * ref) << "(" << i << ", " << j << ")";
    }
}

TEST(PseudospectrumGrid, ThreadsGiveIdenticalResults) {
  const SchurPseudospectrum ps(conv_matrix(7));
  const Window win = default_window(ps);
  const PseudospectrumGrid serial = sigma_min_grid(ps, win, 15, 12);
  for (int threads : {2, 3}) {
    const PseudospectrumGrid par = sigma_min_grid(ps, win, 15, 12, {}, threads);
    EXPECT_TRUE((par.sigma.array() == serial.sigma.array()).all()) << threads << " threads";
    EXPECT_TRUE((par.iterations.array() == serial.iterations.array()).all());
    EXPECT_EQ(par.unconverged, serial.unconverged);
  }
  // More threads than points, and a single point.
  const PseudospectrumGrid one = sigma_min_grid(ps, Eigen::VectorXd::Constant(1, 0.1),
                                                Eigen::VectorXd::Constant(1, 0.2), {}, 8);
  EXPECT_EQ(one.sigma(0, 0), ps.sigma_min(cd(0.1, 0.2)).value);
}

TEST(PseudospectrumGrid, DefaultWindowHoldsTheSpectrum) {
  const Eigen::MatrixXd w = random_non_normal(30, 71);
  const SchurPseudospectrum ps(w);
  const Window win = default_window(ps, 0.1);
  for (Eigen::Index i = 0; i < ps.n(); ++i) {
    const cd l = ps.eigenvalues()(i);
    EXPECT_GT(l.real(), win.re_lo);
    EXPECT_LT(l.real(), win.re_hi);
    EXPECT_GT(l.imag(), win.im_lo);
    EXPECT_LT(l.imag(), win.im_hi);
  }
  EXPECT_EQ(win.im_lo, -win.im_hi);
  EXPECT_GE(win.re_hi - ps.eigenvalues().real().maxCoeff(), 0.1 * ps.norm2_upper_bound() * (1 - 1e-15));
  // W = 0: a window of size pad around 0 rather than a point.
  const Window zero = default_window(SchurPseudospectrum(Eigen::MatrixXd::Zero(3, 3)), 0.5);
  EXPECT_EQ(zero.re_lo, -0.5);
  EXPECT_EQ(zero.im_hi, 0.5);
}

// ---------------------------------------------------------------------------------------------------------------
// The eps-pseudospectral abscissa

TEST(PseudospectralAbscissa, NormalMatrixClosedForm) {
  const double eps = 0.1;
  // Rightmost: the pair 0.8 +- 0.37i, between the rows (spacing 2.6 / 30): alpha = 0.9 at Im z = +-0.37.
  const Normal nm = reference_normal();
  const SchurPseudospectrum ps(nm.w);
  const PseudospectrumGrid g = sigma_min_grid(ps, Eigen::VectorXd::LinSpaced(41, -1.5, 1.5),
                                              Eigen::VectorXd::LinSpaced(31, -1.3, 1.3));
  const PseudospectralAbscissa a = pseudospectral_abscissa(ps, g, eps);
  EXPECT_NEAR(a.value, 0.9, 1e-6);
  EXPECT_NEAR(std::abs(a.im), 0.37, 2e-3);
  EXPECT_FALSE(a.at_right_edge);
  EXPECT_FALSE(a.from_eigenvalues);
  EXPECT_TRUE(a.converged);
  EXPECT_GT(a.evaluations, 0);
  EXPECT_LE(ps.sigma_min(cd(a.value, a.im)).value, eps * (1 + 1e-9));

  // Without the Im refinement: the best row's crossing, max_i Re lambda_i + sqrt(eps^2 - (y - Im lambda_i)^2).
  AbscissaOptions rows_only;
  rows_only.refine_im = false;
  const PseudospectralAbscissa r = pseudospectral_abscissa(ps, g, eps, rows_only);
  double expected = -INFINITY;
  for (Eigen::Index i = 0; i < g.im.size(); ++i)
    for (cd l : nm.eigenvalues) {
      const double dy = g.im(i) - l.imag();
      if (std::abs(dy) <= eps) expected = std::max(expected, l.real() + std::sqrt(eps * eps - dy * dy));
    }
  EXPECT_NEAR(r.crossing, expected, 1e-8);
  EXPECT_LT(r.crossing, 0.9 - 1e-4);  // the rows alone miss the maximiser ...
  EXPECT_TRUE(r.from_eigenvalues);    // ... by more than tol: the disk bound 0.9 is returned instead
  EXPECT_EQ(r.value, ps.eigenvalues().real().maxCoeff() + eps);
  EXPECT_NEAR(a.crossing, a.value, 0.0);

  // Rightmost eigenvalue real (0.9) and a row on the real axis: alpha = 1.0 from the row itself.
  const Normal nr = reference_normal(true);
  const SchurPseudospectrum pr(nr.w);
  const PseudospectrumGrid gr = sigma_min_grid(pr, default_window(pr), 40, 31);
  EXPECT_NEAR(pseudospectral_abscissa(pr, gr, eps, rows_only).value, 1.0, 1e-8);
  EXPECT_NEAR(pseudospectral_abscissa(pr, gr, eps).value, 1.0, 1e-8);
}

TEST(PseudospectralAbscissa, NonNormalMatchesDenseBruteForce) {
  const Eigen::MatrixXd w = random_non_normal(30, 81, 1.5);
  const SchurPseudospectrum ps(w);
  const double eps = 0.05;
  // Rows 0.325 apart, one at Im z = 0.03: the rightmost part of Lambda_eps, a small component around an
  // eigenvalue near 1.42 symmetric about the real axis, has its maximiser between rows.
  const PseudospectrumGrid g = sigma_min_grid(ps, Eigen::VectorXd::LinSpaced(25, -3.3, 3.4),
                                              Eigen::VectorXd::LinSpaced(21, -3.22, 3.28));
  const Eigen::Index rows = g.im.size(), cols = g.re.size();

  // Brute force: rightmost grid point per row from dense SVDs, bisection on the best rows.
  Eigen::Index best_j = -1;
  std::vector<Eigen::Index> right(rows, -1);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = cols - 1; j >= 0 && right[i] < 0; --j)
      if (dense_sigma_min(w, cd(g.re(j), g.im(i))) <= eps) right[i] = j;
    best_j = std::max(best_j, right[i]);
  }
  ASSERT_GE(best_j, 0);
  ASSERT_LT(best_j, cols - 1);
  double rows_value = -INFINITY;
  Eigen::Index best_row = -1;
  for (Eigen::Index i = 0; i < rows; ++i) {
    if (right[i] != best_j) continue;
    const double x = dense_crossing(w, g.im(i), g.re(best_j), g.re(best_j + 1), eps, 1e-12);
    if (x > rows_value) rows_value = x, best_row = i;
  }
  AbscissaOptions rows_only;
  rows_only.refine_im = false;
  const PseudospectralAbscissa r = pseudospectral_abscissa(ps, g, eps, rows_only);
  EXPECT_NEAR(r.value, rows_value, 1e-8);

  // ... then the maximum over Im z between the neighbouring rows, by golden section on dense crossings (the same
  // bracket as the implementation: from the best row's rightmost grid point).
  const double h = g.re(best_j + 1) - g.re(best_j);
  auto neg_crossing = [&](double y) {
    const double lo = g.re(best_j), hi = g.re(best_j + 1) + h;
    if (dense_sigma_min(w, cd(lo, y)) > eps) return -lo + h * (1 + std::abs(y - g.im(best_row)));
    return -dense_crossing(w, y, lo, hi, eps, 1e-11);
  };
  const double brute = -golden_min(neg_crossing, g.im(std::max<Eigen::Index>(best_row - 1, 0)),
                                   g.im(std::min(best_row + 1, rows - 1)), 1e-7);
  const PseudospectralAbscissa a = pseudospectral_abscissa(ps, g, eps);
  EXPECT_NEAR(a.value, brute, 1e-6);
  EXPECT_GT(a.value, r.value + 1e-5);  // the maximiser is between the rows
  EXPECT_NEAR(std::abs(a.im), 0.0, 1e-3);
  EXPECT_FALSE(a.at_right_edge);
  EXPECT_FALSE(a.from_eigenvalues);
  EXPECT_TRUE(a.converged);
  // alpha_eps >= max Re lambda + eps (the eps-disks lie inside), with the eigenvalues from a dense solver.
  const double re_max = Eigen::EigenSolver<Eigen::MatrixXd>(w, false).eigenvalues().real().maxCoeff();
  EXPECT_GE(a.value, re_max + eps - 1e-9);
  EXPECT_GT(a.value, re_max + eps + 1e-3);  // and non-normality pushes it further
}

TEST(PseudospectralAbscissa, RightEdgeAndCoarseGrid) {
  const Normal nm = reference_normal();
  const SchurPseudospectrum ps(nm.w);
  // The window ends at Re z = 0.85, inside Lambda_0.1: only a lower bound.
  const PseudospectrumGrid cut = sigma_min_grid(ps, Eigen::VectorXd::LinSpaced(30, -1.5, 0.85),
                                                Eigen::VectorXd::LinSpaced(27, -1.3, 1.3));
  const PseudospectralAbscissa a = pseudospectral_abscissa(ps, cut, 0.1);
  EXPECT_TRUE(a.at_right_edge);
  EXPECT_GE(a.value, 0.85);
  EXPECT_LE(a.value, 0.9 + 1e-12);
  // eps far below the grid spacing: no grid point in Lambda_eps; the eigenvalue disk bound is returned.
  const PseudospectrumGrid coarse = sigma_min_grid(ps, Eigen::VectorXd::LinSpaced(7, -1.5, 1.5),
                                                   Eigen::VectorXd::LinSpaced(6, -1.3, 1.3));
  const PseudospectralAbscissa c = pseudospectral_abscissa(ps, coarse, 1e-4);
  EXPECT_TRUE(c.from_eigenvalues);
  EXPECT_NEAR(c.value, 0.8 + 1e-4, 1e-12);
}

// ---------------------------------------------------------------------------------------------------------------
// Distance to instability

TEST(DistanceToInstability, NormalMatrixClosedForm) {
  // min_y min_i |1 + iy - lambda_i| = 1 - max Re lambda, at y = Im of the rightmost eigenvalue.
  const SchurPseudospectrum complex_right(reference_normal(false).w);
  const DistanceToInstability d = distance_to_instability(complex_right);
  EXPECT_FALSE(d.unstable);
  EXPECT_NEAR(d.value, 0.2, 1e-9);
  EXPECT_NEAR(d.y, 0.37, 1e-4);
  EXPECT_TRUE(d.converged);
  EXPECT_GT(d.y_max, 0.37);

  const SchurPseudospectrum real_right(reference_normal(true).w);
  const DistanceToInstability e = distance_to_instability(real_right);
  EXPECT_NEAR(e.value, 0.1, 1e-9);
  EXPECT_NEAR(e.y, 0.0, 1e-4);
}

TEST(DistanceToInstability, TwoByTwoNonNormal) {
  Eigen::Matrix2d w;
  w << 0.5, 4.0, 0.0, 0.3;  // stable (eigenvalues 0.5, 0.3: 0.5 from the line), far from normal
  const SchurPseudospectrum ps(w);
  auto f = [&](double y) {
    const Eigen::Matrix2cd m = cd(1.0, y) * Eigen::Matrix2cd::Identity() - w.cast<cd>();
    return sigma_min_2x2(m);
  };
  // By hand: the closed form on a fine y grid, then golden section around the best sample.
  double best = INFINITY, best_y = 0.0;
  for (int k = 0; k <= 20000; ++k) {
    const double y = 10.0 * k / 20000;
    if (f(y) < best) best = f(y), best_y = y;
  }
  best = std::min(best, golden_min(f, std::max(0.0, best_y - 5e-4), best_y + 5e-4, 1e-10));
  const DistanceToInstability d = distance_to_instability(ps);
  EXPECT_NEAR(d.value, best, 1e-9);
  EXPECT_NEAR(f(d.y), d.value, 1e-12);
  EXPECT_LT(d.value, 0.2);  // the non-normal coupling brings instability much closer than 0.5
  InstabilityOptions threaded;
  threaded.threads = 2;
  EXPECT_EQ(distance_to_instability(ps, threaded).value, d.value);
}

TEST(DistanceToInstability, NonNormalMatchesDenseSampling) {
  const Eigen::MatrixXd w = 0.6 * random_non_normal(20, 91, 1.0);
  const SchurPseudospectrum ps(w);
  const DistanceToInstability d = distance_to_instability(ps);
  ASSERT_FALSE(d.unstable);
  // Dense SVDs on a fine y grid over the same range: never clearly below the value found.
  double dense_best = INFINITY;
  for (int k = 0; k <= 1000; ++k) dense_best = std::min(dense_best, dense_sigma_min(w, cd(1.0, d.y_max * k / 1000)));
  EXPECT_LE(d.value, dense_best * (1 + 1e-9));
  EXPECT_NEAR(d.value, dense_sigma_min(w, cd(1.0, d.y)), 1e-9 * d.value);
}

TEST(DistanceToInstability, UnstableIsZero) {
  Eigen::Matrix3d w;
  w << 1.2, 0.3, 0.0, 0.0, 0.1, 0.5, 0.0, 0.0, -0.4;
  const DistanceToInstability d = distance_to_instability(SchurPseudospectrum(w));
  EXPECT_TRUE(d.unstable);
  EXPECT_EQ(d.value, 0.0);
  EXPECT_EQ(d.y, 0.0);
  EXPECT_EQ(d.evaluations, 0);
  // On the line exactly counts as unstable; a different threshold c moves the line.
  const SchurPseudospectrum one(Eigen::MatrixXd::Identity(2, 2));
  EXPECT_TRUE(distance_to_instability(one).unstable);
  InstabilityOptions far;
  far.c = 3.0;
  const DistanceToInstability f = distance_to_instability(one, far);
  EXPECT_FALSE(f.unstable);
  EXPECT_NEAR(f.value, 2.0, 1e-12);
}
