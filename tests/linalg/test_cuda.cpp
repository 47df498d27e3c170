// CUDA: device parsing and numerics settings, the cuSOLVER dense path against Eigen, and the CLI's
// `--method dense --device cuda`. Tests that need a GPU call GTEST_SKIP() without one; tests of the
// cuSOLVER path skip when convdyn was built without the CUDA toolkit (CONVDYN_HAVE_CUSOLVER).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <complex>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "apps/cli_runner.hpp"
#include "fixture_path.hpp"
#include "linalg/conv_operator.hpp"
#include "linalg/cuda_dense_eig.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;

namespace {

/// The message of the DeviceError `f` throws ("" and a failure when it throws nothing or something else).
template <class F>
std::string device_error_of(F&& f) {
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

#if CONVDYN_HAVE_CUSOLVER
/// Largest distance of a one-to-one greedy pairing of `expected` with `got` (infinity for different sizes).
double multiset_distance(const Eigen::VectorXcd& expected, const Eigen::VectorXcd& got) {
  if (expected.size() != got.size()) return std::numeric_limits<double>::infinity();
  std::vector<bool> used(static_cast<std::size_t>(got.size()), false);
  double worst = 0.0;
  for (Eigen::Index i = 0; i < expected.size(); ++i) {
    std::size_t best = 0;
    double best_d = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < used.size(); ++j) {
      if (used[j]) continue;
      const double d = std::abs(expected[i] - got[static_cast<Eigen::Index>(j)]);
      if (d < best_d) best_d = d, best = j;
    }
    used[best] = true;
    worst = std::max(worst, best_d);
  }
  return worst;
}

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
#endif

}  // namespace

// ---- device parsing (no GPU needed) ----

TEST(ParseDevice, CpuIsAccepted) { EXPECT_EQ(parse_device("cpu"), c10::Device(c10::DeviceType::CPU)); }

TEST(ParseDevice, MalformedNamesAreValueErrors) {
  for (const char* s : {"gpu", "cuda:x", "CUDA", "cuda:", "cuda:-1", "cuda0", "", "cpu:0", "cuda:99999"})
    EXPECT_THROW(parse_device(s), ValueError) << "'" << s << "'";
}

TEST(ParseDevice, CudaWithoutCudaSaysWhy) {
  if (at::hasCUDA()) GTEST_SKIP() << "LibTorch has a CUDA device here";
  for (const char* s : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string msg = device_error_of([&] { parse_device(s); });
    if (torch_built_with_cuda())
      EXPECT_NE(msg.find("no CUDA device available"), std::string::npos) << msg;
    else
      EXPECT_NE(msg.find("CPU-only LibTorch"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ParseDevice, CudaDeviceTurnsTf32OffAndBenchmarkOn) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device (LibTorch)";
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(true);
  ctx.setAllowTF32CuDNN(true);
  const auto d = parse_device("cuda");
  EXPECT_TRUE(d.is_cuda());
  EXPECT_EQ(d.index(), 0);
  EXPECT_FALSE(ctx.allowTF32CuBLAS());
  EXPECT_FALSE(ctx.allowTF32CuDNN());
  EXPECT_TRUE(ctx.benchmarkCuDNN());
  const std::string msg = device_error_of([] { parse_device("cuda:" + std::to_string(at::getNumGPUs())); });
  EXPECT_NE(msg.find("CUDA device"), std::string::npos) << msg;
}

// ---- cuSOLVER dense path ----

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
  const at::Tensor dense = op.to_dense();
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::MatrixXd a = Eigen::Map<const RowMajor>(dense.data_ptr<double>(), op.size(), op.size());
  expect_matches_eigen(a);
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

// ---- CLI: `spectrum --method dense --device cuda` ----

TEST(CudaCli, DenseOnCudaRunsOrFailsInOneLine) {
  if (!std::filesystem::exists(CONVDYN_BINARY)) GTEST_SKIP() << "convdyn binary not built";
  const auto r = convdyn::testing::run_cli("spectrum " + convdyn::testing::fixture("cordsnet_d2_plain.pth") +
                                  " --layer area_conv.0 --method dense --device cuda --k 4 --quiet");
  if (cuda_dense_available()) {
    EXPECT_EQ(r.code, 0) << r.err;
    return;
  }
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("convdyn: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
}
