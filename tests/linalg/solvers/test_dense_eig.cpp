// dense_eig: closed-form spectra of convolution operators, ordering, eigenvectors and the guards.
#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <vector>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/error.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

namespace {

const double kPi = std::acos(-1.0);
const cd kI(0.0, 1.0);

double max_abs(const Eigen::VectorXcd& v) { return v.size() ? v.cwiseAbs().maxCoeff() : 0.0; }

/// One-channel 3x3 kernel K[a][b] = u[a] v[b] as a (1, 1, 3, 3) tensor.
at::Tensor separable_kernel(const std::array<double, 3>& u, const std::array<double, 3>& v) {
  auto w = at::empty({1, 1, 3, 3}, at::kDouble);
  auto acc = w.accessor<double, 4>();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) acc[0][0][a][b] = u[static_cast<std::size_t>(a)] * v[static_cast<std::size_t>(b)];
  return w;
}

/// Cross-correlation with zero padding: y[i,j] = sum u[a] v[b] x[i+a-1, j+b-1], i.e. kron(T_u, T_v) with
/// T_u tridiagonal Toeplitz (sub u1, diag u2, super u3). Eigenvalues of T_u: u2 + 2 sqrt(u1 u3) cos(i pi/(H+1)).
Eigen::VectorXcd separable_closed_form(const std::array<double, 3>& u, const std::array<double, 3>& v,
                                       std::int64_t H, std::int64_t W) {
  const cd su = std::sqrt(cd(u[0] * u[2], 0.0)), sv = std::sqrt(cd(v[0] * v[2], 0.0));
  Eigen::VectorXcd out(H * W);
  for (std::int64_t i = 1; i <= H; ++i)
    for (std::int64_t j = 1; j <= W; ++j)
      out[(i - 1) * W + (j - 1)] =
          (u[1] + 2.0 * su * std::cos(static_cast<double>(i) * kPi / static_cast<double>(H + 1))) *
          (v[1] + 2.0 * sv * std::cos(static_cast<double>(j) * kPi / static_cast<double>(W + 1)));
  return out;
}

/// Circular cross-correlation maps the Fourier mode x[d, i, j] = e_d exp(2 pi i (P i/H + Q j/W)) to
/// exp(...) * (M(P, Q) e), M(P, Q) = sum_{a,b} W[:, :, a, b] exp(+2 pi i (P (a-r)/H + Q (b-r)/W)), r = k/2.
Eigen::MatrixXcd fourier_block(const at::Tensor& w, std::int64_t H, std::int64_t W, std::int64_t P, std::int64_t Q) {
  const auto wc = w.to(at::kDouble).contiguous();
  const auto acc = wc.accessor<double, 4>();
  const std::int64_t C = w.size(0), k = w.size(2), r = k / 2;
  Eigen::MatrixXcd M = Eigen::MatrixXcd::Zero(C, C);
  for (std::int64_t a = 0; a < k; ++a)
    for (std::int64_t b = 0; b < k; ++b) {
      const double t = 2.0 * kPi * (static_cast<double>(P * (a - r)) / static_cast<double>(H) +
                                    static_cast<double>(Q * (b - r)) / static_cast<double>(W));
      const cd phase = std::exp(kI * t);
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t d = 0; d < C; ++d) M(c, d) += acc[c][d][a][b] * phase;
    }
  return M;
}

Eigen::VectorXcd circular_block_spectrum(const at::Tensor& w, std::int64_t H, std::int64_t W) {
  const std::int64_t C = w.size(0);
  Eigen::VectorXcd out(C * H * W);
  Eigen::Index at = 0;
  for (std::int64_t P = 0; P < H; ++P)
    for (std::int64_t Q = 0; Q < W; ++Q) {
      Eigen::ComplexEigenSolver<Eigen::MatrixXcd> ces(fourier_block(w, H, W, P, Q), false);
      out.segment(at, C) = ces.eigenvalues();
      at += C;
    }
  return out;
}

/// The quantity each selection rule maximises, as a table of its own (independent of linalg::which_key).
double key(cd z, Which w) {
  const std::pair<Which, double> keys[] = {{Which::LM, std::abs(z)},      {Which::LR, z.real()},
                                           {Which::SR, -z.real()},        {Which::SM, -std::abs(z)},
                                           {Which::LI, std::abs(z.imag())}};
  for (const auto& [which, k] : keys)
    if (which == w) return k;
  return 0.0;
}

/// Independent reference order: key descending, then real part descending, then imaginary part descending
/// (a conjugate pair has equal keys, so its positive-imaginary member comes first).
std::vector<cd> reference_order(const Eigen::VectorXcd& all, Which w) {
  std::vector<cd> v(all.data(), all.data() + all.size());
  std::sort(v.begin(), v.end(), [w](cd a, cd b) {
    const double ka = key(a, w), kb = key(b, w);
    if (ka != kb) return ka > kb;
    if (a.real() != b.real()) return a.real() > b.real();
    return a.imag() > b.imag();
  });
  return v;
}

}  // namespace

TEST(DenseEig, ZeroPaddedSeparableKernelMatchesKroneckerClosedForm) {
  const std::array<double, 3> u{0.3, 0.5, 0.7}, v{0.2, -0.4, 0.6};  // u1 u3 > 0, v1 v3 > 0: real spectrum
  const std::int64_t H = 7, W = 9;
  ConvOperator op(separable_kernel(u, v), H, W, Padding::Zero);
  const auto r = dense_eig(op);
  ASSERT_EQ(r.size(), H * W);
  const auto expected = separable_closed_form(u, v, H, W);
  EXPECT_LT(expected.imag().cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_LT(multiset_distance(expected, r.values), 1e-10 * max_abs(expected))
      << "dense:\n" << r.values.transpose() << "\nclosed form:\n" << expected.transpose();
}

TEST(DenseEig, ZeroPaddedSeparableKernelWithComplexSpectrumMatchesClosedForm) {
  // u1 u3 < 0 and v1 v3 < 0: sqrt(u1 u3) is imaginary and the spectrum is complex.
  const std::array<double, 3> u{-0.3, 0.5, 0.7}, v{0.2, -0.4, -0.6};
  const std::int64_t H = 7, W = 9;
  ConvOperator op(separable_kernel(u, v), H, W, Padding::Zero);
  const auto r = dense_eig(op);
  ASSERT_EQ(r.size(), H * W);
  const auto expected = separable_closed_form(u, v, H, W);
  EXPECT_GT(expected.imag().cwiseAbs().maxCoeff(), 0.1);
  EXPECT_LT(multiset_distance(expected, r.values), 1e-10 * max_abs(expected))
      << "dense:\n" << r.values.transpose() << "\nclosed form:\n" << expected.transpose();
}

TEST(DenseEig, CircularMultiChannelIsUnionOfFourierBlockSpectra) {
  at::manual_seed(11);
  const std::int64_t C = 3, H = 5, W = 6;
  for (std::int64_t k : {3, 5}) {
    const auto w = at::randn({C, C, k, k}, at::kDouble);
    ConvOperator op(w, H, W, Padding::Circular);
    // The reference itself: a Fourier mode built from an eigenvector of a non-symmetric block M(P, Q)
    // (P, Q not self-conjugate) is an eigenvector of the operator. This pins the sign of the phase.
    {
      const std::int64_t P = 1, Q = 2;
      Eigen::ComplexEigenSolver<Eigen::MatrixXcd> ces(fourier_block(w, H, W, P, Q));
      Eigen::VectorXcd x(C * H * W);
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t i = 0; i < H; ++i)
          for (std::int64_t j = 0; j < W; ++j)
            x[(c * H + i) * W + j] =
                ces.eigenvectors()(c, 0) *
                std::exp(kI * 2.0 * kPi *
                         (static_cast<double>(P * i) / static_cast<double>(H) +
                          static_cast<double>(Q * j) / static_cast<double>(W)));
      const Eigen::MatrixXcd A = to_eigen(op.to_dense()).cast<cd>();
      const cd mu = ces.eigenvalues()[0];
      ASSERT_LT((A * x - mu * x).norm(), 1e-12 * x.norm() * std::max(1.0, std::abs(mu))) << "k=" << k;
      ASSERT_GT((A * x.conjugate() - mu * x.conjugate()).norm(), 1e-3 * x.norm()) << "k=" << k;
    }
    const auto r = dense_eig(op);
    ASSERT_EQ(r.size(), C * H * W);
    const auto expected = circular_block_spectrum(w, H, W);
    EXPECT_LT(multiset_distance(expected, r.values), 1e-10 * max_abs(expected))
        << "k=" << k << "\ndense:\n" << r.values.transpose() << "\nblocks:\n" << expected.transpose();
  }
}

TEST(DenseEig, CircularSingleChannelEigenvaluesAreDftOfKernel) {
  at::manual_seed(12);
  // (H, W, k): the 5x5 kernel on a 4-row grid wraps rows -2 and +2 onto the same row.
  for (auto [H, W, k] : {std::array<std::int64_t, 3>{6, 8, 3}, std::array<std::int64_t, 3>{4, 7, 5}}) {
    const auto w = at::randn({1, 1, k, k}, at::kDouble);
    ConvOperator op(w, H, W, Padding::Circular);
    // Embed K[a][b] at ((r - a) mod H, (r - b) mod W): then fft2 gives sum K exp(+2 pi i (P(a-r)/H + Q(b-r)/W)).
    auto g = at::zeros({H, W}, at::kDouble);
    const std::int64_t r = k / 2;
    for (std::int64_t a = 0; a < k; ++a)
      for (std::int64_t b = 0; b < k; ++b) {
        auto cell = g[((r - a) % H + H) % H][((r - b) % W + W) % W];
        cell += w[0][0][a][b];
      }
    const auto f = at::view_as_real(at::fft_fft2(g)).reshape({H * W, 2}).contiguous();
    Eigen::VectorXcd expected(H * W);
    for (std::int64_t i = 0; i < H * W; ++i) expected[i] = cd(f[i][0].item<double>(), f[i][1].item<double>());
    const auto res = dense_eig(op);
    ASSERT_EQ(res.size(), H * W);
    EXPECT_LT(multiset_distance(expected, res.values), 1e-10 * max_abs(expected))
        << H << "x" << W << " k=" << k << "\ndense:\n" << res.values.transpose() << "\nfft2:\n" << expected.transpose();
  }
}

TEST(DenseEig, OrderingOfAKnownSpectrum) {
  // Block-triangular B (1x1 and rotation-scaling 2x2 diagonal blocks) under a random orthogonal similarity.
  // Eigenvalues: 4, -3±2i, 2±2.5i, 3, -3.5, 0.5±0.1i, 0.05, -0.2±0.3i.
  struct Block { double re, im; };
  const std::vector<Block> blocks{{4, 0}, {-3, 2}, {2, 2.5}, {3, 0}, {-3.5, 0}, {0.5, 0.1}, {0.05, 0}, {-0.2, 0.3}};
  const Eigen::Index n = 12;
  Eigen::MatrixXd B = Eigen::MatrixXd::Zero(n, n);
  Eigen::Index at = 0;
  for (const auto& blk : blocks) {
    if (blk.im == 0) {
      B(at, at) = blk.re;
      at += 1;
    } else {
      B(at, at) = B(at + 1, at + 1) = blk.re;
      B(at, at + 1) = blk.im;
      B(at + 1, at) = -blk.im;
      at += 2;
    }
  }
  ASSERT_EQ(at, n);
  at::manual_seed(13);
  const Eigen::MatrixXd noise = to_eigen(at::randn({n, n}, at::kDouble));
  for (Eigen::Index i = 0; i < n; ++i)  // strictly above the block diagonal: keeps the eigenvalues
    for (Eigen::Index j = i + 2; j < n; ++j) B(i, j) += 0.3 * noise(i, j);
  const Eigen::MatrixXd Q = to_eigen(std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble))));
  const Eigen::MatrixXd A = Q * B * Q.transpose();

  const cd i1(0, 1);
  const std::vector<std::pair<Which, std::vector<cd>>> cases{
      {Which::LM, {4.0, -3.0 + 2.0 * i1, -3.0 - 2.0 * i1, -3.5, 2.0 + 2.5 * i1}},
      {Which::LR, {4.0, 3.0, 2.0 + 2.5 * i1, 2.0 - 2.5 * i1, 0.5 + 0.1 * i1}},
      {Which::SR, {-3.5, -3.0 + 2.0 * i1, -3.0 - 2.0 * i1, -0.2 + 0.3 * i1, -0.2 - 0.3 * i1}},
      {Which::SM, {0.05, -0.2 + 0.3 * i1, -0.2 - 0.3 * i1, 0.5 + 0.1 * i1, 0.5 - 0.1 * i1}},
      {Which::LI, {2.0 + 2.5 * i1, 2.0 - 2.5 * i1, -3.0 + 2.0 * i1, -3.0 - 2.0 * i1, -0.2 + 0.3 * i1}},
  };
  for (const auto& [which, expected] : cases) {
    DenseEigOptions opt;
    opt.which = which;
    opt.k = 5;
    const auto r = dense_eig(A, opt);
    ASSERT_EQ(r.size(), 5) << to_string(which);
    EXPECT_EQ(r.which, which);
    for (Eigen::Index i = 0; i < 5; ++i)
      EXPECT_LT(std::abs(r.values[i] - expected[static_cast<std::size_t>(i)]), 1e-12)
          << to_string(which) << " position " << i << ": got " << r.values[i] << ", expected "
          << expected[static_cast<std::size_t>(i)];
  }
}

TEST(DenseEig, TopKMatchesIndependentSortWithConjugatesAdjacent) {
  at::manual_seed(14);
  ConvOperator op(at::randn({2, 2, 3, 3}, at::kDouble), 4, 5, Padding::Zero);
  Eigen::EigenSolver<Eigen::MatrixXd> es(to_eigen(op.to_dense()), false);
  const Eigen::VectorXcd all = es.eigenvalues();
  const double scale = max_abs(all);
  int pairs_seen = 0;
  for (Which which : {Which::LR, Which::LM, Which::SR, Which::SM}) {
    DenseEigOptions opt;
    opt.which = which;
    opt.k = 5;
    const auto r = dense_eig(op, opt);
    ASSERT_EQ(r.size(), 5) << to_string(which);
    const auto ref = reference_order(all, which);
    for (Eigen::Index i = 0; i < 5; ++i) {
      const cd z = r.values[i];
      EXPECT_LT(std::abs(z - ref[static_cast<std::size_t>(i)]), 1e-12 * scale)
          << to_string(which) << " position " << i << ": got " << z << ", expected " << ref[static_cast<std::size_t>(i)];
      if (i > 0) {
        EXPECT_LE(key(z, which), key(r.values[i - 1], which) + 1e-12 * scale) << to_string(which);
      }
      if (z.imag() > 1e-12 * scale && i + 1 < 5) {
        EXPECT_LT(std::abs(r.values[i + 1] - std::conj(z)), 1e-12 * scale) << to_string(which) << " position " << i;
        ++pairs_seen;
      }
      if (z.imag() < -1e-12 * scale) {
        ASSERT_GT(i, 0) << to_string(which) << ": negative imaginary part first";
        EXPECT_LT(std::abs(r.values[i - 1] - std::conj(z)), 1e-12 * scale) << to_string(which) << " position " << i;
      }
    }
  }
  EXPECT_GT(pairs_seen, 0) << "no conjugate pair among the selections: the adjacency check was vacuous";
}

TEST(DenseEig, VectorsAreUnitAndResidualsMatchIndependentComputation) {
  at::manual_seed(15);
  ConvOperator op(at::randn({2, 2, 3, 3}, at::kDouble), 5, 6, Padding::Zero);
  const Eigen::MatrixXd Ad = to_eigen(op.to_dense());
  const Eigen::MatrixXcd A = Ad.cast<cd>();
  const Eigen::Index n = A.rows();
  for (auto [which, k] : {std::pair<Which, std::int64_t>{Which::LM, 0}, {Which::SM, 7}, {Which::LR, 9}}) {
    DenseEigOptions opt;
    opt.vectors = true;
    opt.which = which;
    opt.k = k;
    const auto from_op = dense_eig(op, opt);
    const auto from_matrix = dense_eig(Ad, opt);
    for (const auto* r : {&from_op, &from_matrix}) {
      const Eigen::Index m = (k == 0) ? n : k;
      ASSERT_EQ(r->size(), m);
      ASSERT_EQ(r->vectors.rows(), n);
      ASSERT_EQ(r->vectors.cols(), m);
      ASSERT_EQ(r->residuals.size(), m);
      for (Eigen::Index i = 0; i < m; ++i) {
        const Eigen::VectorXcd v = r->vectors.col(i);
        const cd lambda = r->values[i];
        EXPECT_NEAR(v.norm(), 1.0, 1e-12) << to_string(which) << " pair " << i;
        const double res = (A * v - lambda * v).norm();
        EXPECT_NEAR(r->residuals[i], res, 1e-12) << to_string(which) << " pair " << i;
        EXPECT_LE(res, 1e-10 * std::max(1.0, std::abs(lambda))) << to_string(which) << " pair " << i;
      }
    }
  }
}

TEST(DenseEig, SizeGuardRefusesLargeOperatorsWithAnEstimate) {
  // 100 x 100 grid: n = 10000 > default max_n = 6000. The guard must fire before materialising (800 MB).
  ConvOperator big(at::randn({1, 1, 3, 3}, at::kDouble), 100, 100);
  try {
    dense_eig(big);
    FAIL() << "no exception for n=10000 > max_n=6000";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("GB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1.6 GB"), std::string::npos) << msg;  // 2 * 8 * 10000^2 bytes
    EXPECT_NE(msg.find("6000"), std::string::npos) << msg;
    EXPECT_NE(msg.find("10000"), std::string::npos) << msg;
  }
  // The limit is inclusive and applies to both overloads.
  ConvOperator small(at::randn({1, 1, 3, 3}, at::kDouble), 6, 10);
  DenseEigOptions opt;
  opt.max_n = 59;
  EXPECT_THROW(dense_eig(small, opt), ValueError);
  EXPECT_THROW(dense_eig(Eigen::MatrixXd::Identity(60, 60), opt), ValueError);
  opt.max_n = 60;
  EXPECT_EQ(dense_eig(small, opt).size(), 60);
  EXPECT_EQ(dense_eig(Eigen::MatrixXd::Identity(60, 60), opt).size(), 60);

  const double n = 200704.0;  // 64 channels on 56 x 56
  EXPECT_NEAR(dense_cost(200704, false).bytes, 2.0 * 8.0 * n * n, 0.01 * 2.0 * 8.0 * n * n);
  EXPECT_GT(dense_cost(200704, true).bytes, dense_cost(200704, false).bytes);
}

TEST(DenseEig, RejectsNonFiniteAndNonSquareMatrices) {
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(6, 6);
  a(2, 3) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(dense_eig(a), ValueError);
  a(2, 3) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(dense_eig(a), ValueError);
  EXPECT_THROW(dense_eig(Eigen::MatrixXd::Random(3, 4)), ValueError);
  EXPECT_THROW(dense_eig(Eigen::MatrixXd::Random(4, 3)), ValueError);
}

TEST(DenseEig, Float32OperatorMatchesFloat64) {
  at::manual_seed(16);
  const auto w = at::randn({2, 2, 3, 3}, at::kDouble);  // rounded to float32 inside op32
  for (Padding pad : {Padding::Zero, Padding::Circular}) {
    ConvOperator op64(w, 5, 6, pad, at::kDouble);
    ConvOperator op32(w, 5, 6, pad, at::kFloat);
    const auto r64 = dense_eig(op64), r32 = dense_eig(op32);
    ASSERT_EQ(r32.size(), 60);
    EXPECT_LT(multiset_distance(r64.values, r32.values), 1e-5 * max_abs(r64.values)) << to_string(pad);
  }
}
