// The cuSOLVER dense path against Eigen. Tests that need a GPU skip without one; without the CUDA toolkit
// (CONVDYN_HAVE_CUSOLVER) only the stub is tested.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

#include "linalg/cuda/cusolver_dense_eig.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

#if CONVDYN_HAVE_CUSOLVER
namespace {

/// cuSOLVER and Eigen agree on all eigenvalues (relative to the spectral radius) and the GPU
/// eigenvectors have residuals <= 1e-10 relative to max(1, ||A||).
void expect_matches_eigen(const Eigen::MatrixXd& a) {
  DenseEigOptions opt;
  opt.vectors = true;
  opt.max_n = a.rows();
  const EigResult cpu = dense_eig(a, opt);
  const EigResult gpu = dense_eig_cuda(a, opt, 0);
  ASSERT_EQ(gpu.size(), a.rows());
  const double scale = std::max(1.0, cpu.values.cwiseAbs().maxCoeff());
  EXPECT_LE(multiset_distance(cpu.values, gpu.values), 1e-10 * scale);
  // Same order (LM, ties broken deterministically) up to rounding: the leading value matches.
  EXPECT_LE(std::abs(std::abs(cpu.values[0]) - std::abs(gpu.values[0])), 1e-10 * scale);
  ASSERT_EQ(gpu.residuals.size(), a.rows());
  const double anorm = std::max(1.0, a.norm());
  EXPECT_LE(gpu.residuals.maxCoeff(), 1e-10 * anorm);
  for (Eigen::Index i = 0; i < gpu.size(); ++i) EXPECT_NEAR(gpu.vectors.col(i).norm(), 1.0, 1e-12);
  // k and which are honoured like dense_eig.
  opt.k = 5;
  opt.which = Which::LR;
  opt.vectors = false;
  const EigResult top = dense_eig_cuda(a, opt, 0);
  const EigResult top_cpu = dense_eig(a, opt);
  ASSERT_EQ(top.size(), 5);
  for (Eigen::Index i = 0; i < 5; ++i) EXPECT_NEAR(top.values[i].real(), top_cpu.values[i].real(), 1e-10 * scale);
}

}  // namespace
#endif

#if CONVDYN_HAVE_CUSOLVER

TEST(CudaDenseEig, BadInputIsRejectedBeforeTheDevice) {
  EXPECT_THROW(dense_eig_cuda(Eigen::MatrixXd::Zero(3, 4)), ValueError);
  Eigen::MatrixXd nan = Eigen::MatrixXd::Identity(3, 3);
  nan(1, 2) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(dense_eig_cuda(nan), ValueError);
}

TEST(CudaDenseEig, NoDeviceIsAOneLineDeviceError) {
  if (cuda_dense_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string msg = device_error_of([] { dense_eig_cuda(Eigen::MatrixXd::Identity(4, 4)); });
  EXPECT_NE(msg.find("no CUDA device available"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_THROW(require_cuda_device(0), DeviceError);
}

TEST(CudaDenseEig, MatchesEigenOnARandomMatrix) {
  if (!cuda_dense_available()) GTEST_SKIP() << "no CUDA device";
  std::mt19937_64 gen(7);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd a(300, 300);
  for (Eigen::Index j = 0; j < a.cols(); ++j)
    for (Eigen::Index i = 0; i < a.rows(); ++i) a(i, j) = normal(gen);
  expect_matches_eigen(a);
}

TEST(CudaDenseEig, MatchesEigenOnAConvOperator) {
  if (!cuda_dense_available()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(3);
  const auto w = at::randn({6, 6, 3, 3}, at::kDouble) * 0.2;
  ConvOperator op(w, 9, 10);  // n = 540, zero padding: a non-normal matrix with complex pairs
  expect_matches_eigen(dense_matrix(op));
}

TEST(CudaDenseEig, OutOfRangeDeviceIsADeviceError) {
  if (!cuda_dense_available()) GTEST_SKIP() << "no CUDA device";
  const std::string msg = device_error_of([] { dense_eig_cuda(Eigen::MatrixXd::Identity(4, 4), {}, 4096); });
  EXPECT_NE(msg.find("cuda:4096 does not exist"), std::string::npos) << msg;
}

#else

TEST(CudaDenseEig, NotBuilt) { GTEST_SKIP() << "built without the CUDA toolkit"; }

TEST(CudaDenseEig, StubSaysWhy) {
  EXPECT_FALSE(cuda_dense_available());
  const std::string msg = device_error_of([] { dense_eig_cuda(Eigen::MatrixXd::Identity(4, 4)); });
  EXPECT_NE(msg.find("without the CUDA toolkit"), std::string::npos) << msg;
}

#endif
