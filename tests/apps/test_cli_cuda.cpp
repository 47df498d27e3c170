// The CLI's `spectrum --method dense --device cuda`: it runs on a GPU, and fails in one line without one.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "apps/cli_runner.hpp"
#include "fixture_path.hpp"
#include "linalg/cuda/cusolver_dense_eig.hpp"

using namespace convdyn::linalg;

TEST(CudaCli, DenseOnCudaRunsOrFailsInOneLine) {
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
