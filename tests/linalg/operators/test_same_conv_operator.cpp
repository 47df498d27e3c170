// TF 'SAME' convolutions: even kernels pad after, and the transpose is the adjoint.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "linalg/error.hpp"
#include "linalg/operators/same_conv_operator.hpp"

using namespace convdyn;
using namespace convdyn::linalg;

namespace {
double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST(SameConvOperator, EvenKernelsPadAfterAndTransposeIsAdjoint) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  for (std::int64_t k : {1, 2, 3, 4, 5}) {
    SCOPED_TRACE(k);
    auto w = at::randn({2, 2, k, k}, gen, at::kDouble);
    SameConvOperator op(w, 5, 4);
    auto d = op.to_dense();
    auto dt = op.apply_transpose(at::eye(op.size(), at::kDouble)).t();
    EXPECT_LT(max_abs(dt, d.t()), 1e-13);
  }
  // 2x2 kernel of ones on a 1-channel 3x3 image of ones: pad 0 before, 1 after -> bottom/right edges see less.
  SameConvOperator op(at::ones({1, 1, 2, 2}, at::kDouble), 3, 3);
  auto y = op.apply(at::ones({9}, at::kDouble)).reshape({3, 3});
  EXPECT_DOUBLE_EQ(y[0][0].item<double>(), 4);
  EXPECT_DOUBLE_EQ(y[2][2].item<double>(), 1);
  EXPECT_DOUBLE_EQ(y[0][2].item<double>(), 2);
  EXPECT_THROW(SameConvOperator(at::ones({2, 3, 3, 3}), 3, 3), ValueError);
}
