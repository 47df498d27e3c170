// Helpers the linalg tests share: an explicit-matrix operator, dense references and value matching.
#pragma once
#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/error.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/operators/conv_operator.hpp"

namespace convdyn::tests {

using cd = std::complex<double>;

/// y = A x for an explicit (n, n) matrix.
class DenseMatrixOperator final : public linalg::LinearOperator {
 public:
  /// `transpose`: also y = A^T x (has_transpose()).
  explicit DenseMatrixOperator(const at::Tensor& A, c10::ScalarType dtype = at::kDouble, bool transpose = false)
      : LinearOperator(A.size(0), dtype, c10::Device(c10::kCPU)), A_(A.to(dtype).contiguous()), transpose_(transpose) {}
  std::string describe() const override { return fmt::format("dense {}x{}", size(), size()); }
  bool has_transpose() const override { return transpose_; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override { return at::mm(x, A_.t()); }
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override { return at::mm(x, A_); }
  at::Tensor A_;
  bool transpose_;
};

inline Eigen::MatrixXd to_eigen(const at::Tensor& t) { return linalg::detail::to_eigen(t); }
inline Eigen::MatrixXd dense_matrix(const linalg::LinearOperator& op) { return to_eigen(op.to_dense()); }

/// Every eigenvalue of the materialised operator (Eigen, unordered).
inline Eigen::VectorXcd dense_eigenvalues(const linalg::LinearOperator& op) {
  return Eigen::EigenSolver<Eigen::MatrixXd>(dense_matrix(op), /*computeEigenvectors=*/false).eigenvalues();
}

inline double scale_of(const cd& z) { return std::max(1.0, std::abs(z)); }

/// Largest distance of a one-to-one pairing of `expected` with `got` (greedy nearest match, each entry of
/// `got` used once, `expected` visited in (real, imag) order): a small value proves the multisets agree to
/// that distance. Infinity when the sizes differ.
inline double multiset_distance(const Eigen::VectorXcd& expected, const Eigen::VectorXcd& got) {
  if (expected.size() != got.size()) return std::numeric_limits<double>::infinity();
  std::vector<cd> e(expected.data(), expected.data() + expected.size());
  std::sort(e.begin(), e.end(), [](cd a, cd b) { return a.real() != b.real() ? a.real() < b.real() : a.imag() < b.imag(); });
  std::vector<bool> used(static_cast<std::size_t>(got.size()), false);
  double worst = 0.0;
  for (const cd& z : e) {
    std::size_t best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < used.size(); ++j) {
      if (used[j]) continue;
      const double d = std::abs(z - got[static_cast<Eigen::Index>(j)]);
      if (d < best_d) best_d = d, best = j;
    }
    used[best] = true;
    worst = std::max(worst, best_d);
  }
  return worst;
}

/// got(i) within rel * |want(i)| of want(i), position by position.
inline void expect_values_match(const Eigen::VectorXcd& got, const Eigen::VectorXcd& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (Eigen::Index i = 0; i < got.size(); ++i)
    EXPECT_LE(std::abs(got(i) - want(i)), rel * std::abs(want(i)))
        << "value " << i << ": got " << got(i) << ", dense " << want(i);
}

/// Every pair has a residual within the result's tolerance and is flagged converged.
inline void expect_residuals_within_tol(const linalg::EigResult& r) {
  ASSERT_EQ(r.residuals.size(), r.values.size());
  ASSERT_EQ(r.converged.size(), r.values.size());
  for (Eigen::Index i = 0; i < r.values.size(); ++i) {
    EXPECT_LE(r.residuals(i), r.tol * scale_of(r.values(i))) << "pair " << i << " lambda=" << r.values(i);
    EXPECT_TRUE(r.converged(i)) << "pair " << i;
  }
}

/// Fixture-like recurrent conv: random C x C x 3 x 3 kernel ~ randn / sqrt(9 C), zero padding.
inline std::unique_ptr<linalg::ConvOperator> conv(std::int64_t channels, std::int64_t size, std::uint64_t seed,
                                   c10::ScalarType dtype = at::kDouble) {
  at::manual_seed(seed);
  const auto w = at::randn({channels, channels, 3, 3}, at::kDouble) / std::sqrt(9.0 * double(channels));
  return std::make_unique<linalg::ConvOperator>(w, size, size, linalg::Padding::Zero, dtype);
}

/// Every value of `got` is within rel of a value of `want` and vice versa (nearest matching: robust to
/// the order of near-ties).
inline void expect_same_values(const Eigen::VectorXcd& got, const Eigen::VectorXcd& want, double rel,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  auto nearest = [](const cd& z, const Eigen::VectorXcd& set) {
    double d = INFINITY;
    for (Eigen::Index j = 0; j < set.size(); ++j) d = std::min(d, std::abs(set(j) - z));
    return d;
  };
  for (Eigen::Index i = 0; i < got.size(); ++i) {
    EXPECT_LE(nearest(got(i), want), rel * scale_of(got(i))) << what << ": value " << i << " = " << got(i);
    EXPECT_LE(nearest(want(i), got), rel * scale_of(want(i))) << what << ": dense value " << i << " = " << want(i);
  }
}

inline void expect_honest_and_converged(const linalg::EigResult& r, std::int64_t k, const std::string& what) {
  ASSERT_EQ(r.size(), k) << what;
  ASSERT_EQ(r.residuals.size(), k) << what;
  ASSERT_EQ(r.converged.size(), k) << what;
  for (Eigen::Index i = 0; i < k; ++i) {
    EXPECT_LE(r.residuals(i), r.tol * scale_of(r.values(i))) << what << ": pair " << i;
    EXPECT_TRUE(r.converged(i)) << what << ": pair " << i;
  }
  EXPECT_EQ(r.reason, linalg::StopReason::Converged) << what;
}

/// The reported residuals are the residuals of the reported vectors, recomputed from the dense matrix.
inline void expect_residuals_are_true(const linalg::EigResult& r, const Eigen::MatrixXd& A, const std::string& what) {
  ASSERT_EQ(r.vectors.cols(), r.size()) << what;
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    const Eigen::VectorXcd v = r.vectors.col(i);
    EXPECT_NEAR(v.norm(), 1.0, 1e-12) << what;
    const double res = (A.cast<cd>() * v - r.values(i) * v).norm();
    EXPECT_NEAR(r.residuals(i), res, 1e-12 + 1e-6 * res) << what << ": pair " << i;
  }
}


/// The message of the DeviceError `f` throws ("" and a failure when it throws nothing or something else).
template <class F>
inline std::string device_error_of(F&& f) {
  try {
    f();
  } catch (const DeviceError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected DeviceError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected DeviceError, nothing was thrown";
  return "";
}

}  // namespace convdyn::tests
