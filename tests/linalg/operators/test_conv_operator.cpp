#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "linalg/operators/conv_operator.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::linalg;

namespace {
at::Tensor reference_conv(const at::Tensor& x, const at::Tensor& w, Padding p) {
  const auto k = w.size(2) / 2;
  if (p == Padding::Zero) return at::conv2d(x, w, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{k});
  // Circular padding by explicit index wrap, independent of at::pad.
  const auto H = x.size(2), W = x.size(3);
  auto rows = at::arange(-k, H + k, at::kLong).remainder(H);
  auto cols = at::arange(-k, W + k, at::kLong).remainder(W);
  return at::conv2d(x.index_select(2, rows).index_select(3, cols), w, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{0});
}
}  // namespace

class ConvOperatorShapes : public ::testing::TestWithParam<std::tuple<int, int, int, int, Padding>> {};

TEST_P(ConvOperatorShapes, EqualsTorchConv2dOnABatch) {
  auto [C, H, W, k, pad] = GetParam();
  at::manual_seed(1);
  auto w = at::randn({C, C, k, k}, at::kDouble);
  ConvOperator op(w, H, W, pad);
  ASSERT_EQ(op.size(), C * H * W);
  auto x = at::randn({5, C * H * W}, at::kDouble);
  auto y = op.apply(x);
  auto ref = reference_conv(x.view({5, C, H, W}), w, pad).reshape({5, -1});
  EXPECT_LT((y - ref).abs().max().item<double>(), 1e-12);
  // A single vector gives the same as the first row of the block.
  auto y0 = op.apply(x[0]);
  EXPECT_LT((y0 - y[0]).abs().max().item<double>(), 1e-12);
  // Transpose: <A x, z> = <x, A^T z>.
  auto z = at::randn({5, C * H * W}, at::kDouble);
  auto lhs = (y * z).sum(1), rhs = (x * op.apply_transpose(z)).sum(1);
  EXPECT_LT((lhs - rhs).abs().max().item<double>(), 1e-10 * lhs.abs().max().item<double>() + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvOperatorShapes,
    ::testing::Values(std::make_tuple(1, 5, 5, 3, Padding::Zero), std::make_tuple(3, 4, 7, 3, Padding::Zero),
                      std::make_tuple(4, 6, 6, 5, Padding::Zero), std::make_tuple(2, 8, 3, 1, Padding::Zero),
                      std::make_tuple(1, 5, 5, 3, Padding::Circular),
                      std::make_tuple(3, 4, 7, 3, Padding::Circular),
                      std::make_tuple(4, 6, 6, 5, Padding::Circular)));

TEST(ConvOperator, Float32OnRequest) {
  auto w = at::randn({2, 2, 3, 3}, at::kDouble);
  ConvOperator op(w, 4, 4, Padding::Zero, at::kFloat);
  auto x = at::randn({3, 32}, at::kFloat);
  auto y = op.apply(x);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  auto ref = at::conv2d(x.view({3, 2, 4, 4}).to(at::kDouble), w, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{1}).reshape({3, -1});
  EXPECT_LT((y.to(at::kDouble) - ref).abs().max().item<double>(), 1e-5);
}

TEST(ConvOperator, ToDenseColumnsAreImagesOfUnitVectors) {
  auto w = at::randn({3, 3, 3, 3}, at::kDouble);
  ConvOperator op(w, 4, 5, Padding::Zero);
  auto A = op.to_dense(20000, /*block=*/7);  // block not dividing n exercises the tail
  ASSERT_EQ(A.size(0), 60);
  for (int j : {0, 1, 17, 59}) {
    auto e = at::zeros({60}, at::kDouble);
    e[j] = 1.0;
    EXPECT_LT((A.select(1, j) - op.apply(e)).abs().max().item<double>(), 1e-14) << "column " << j;
  }
  auto x = at::randn({60}, at::kDouble);
  EXPECT_LT((at::mv(A, x) - op.apply(x)).abs().max().item<double>(), 1e-12);
}

TEST(ConvOperator, RejectsBadKernels) {
  EXPECT_THROW(ConvOperator(at::randn({2, 3, 3, 3}), 4, 4), ValueError);  // not square in channels
  EXPECT_THROW(ConvOperator(at::randn({2, 2, 4, 4}), 4, 4), ValueError);  // even
  EXPECT_THROW(ConvOperator(at::randn({2, 2, 3, 5}), 4, 4), ValueError);  // non-square kernel
  EXPECT_THROW(ConvOperator(at::randn({2, 2, 3}), 4, 4), ValueError);     // not 4-D
  EXPECT_THROW(ConvOperator(at::randn({2, 2, 3, 3}), 0, 4), ValueError);  // empty grid
}

TEST(ConvOperator, ApplyValidatesInput) {
  ConvOperator op(at::randn({2, 2, 3, 3}), 4, 4);
  EXPECT_THROW(op.apply(at::randn({31}, at::kDouble)), ValueError);
  EXPECT_THROW(op.apply(at::randn({32}, at::kFloat)), ValueError);
  EXPECT_THROW(op.apply(at::randn({2, 2, 32}, at::kDouble)), ValueError);
}

// Float64 on the CPU runs through the dgemm/Winograd kernel; it agrees with LibTorch's conv (the other backend)
// for the operator and its transpose, vectors and blocks, both paddings and odd kernels.
TEST(ConvOperator, Float64KernelAgreesWithLibTorch) {
  at::manual_seed(77);
  for (std::int64_t k : {1, 3, 5})
    for (Padding p : {Padding::Zero, Padding::Circular}) {
      const auto w = at::randn({6, 6, k, k}, at::kDouble);
      const ConvOperator fast(w, 9, 7, p), ref(w, 9, 7, p, at::kDouble, c10::Device(c10::kCPU), ConvBackend::LibTorch);
      for (std::int64_t b : {1, 5}) {
        const auto x = at::randn({b, fast.size()}, at::kDouble);
        const auto y = fast.apply(x), yr = ref.apply(x);
        EXPECT_LE((y - yr).abs().max().item<double>(), 1e-13 * yr.abs().max().item<double>()) << k << " b=" << b;
        const auto t = fast.apply_transpose(x), tr = ref.apply_transpose(x);
        EXPECT_LE((t - tr).abs().max().item<double>(), 1e-13 * tr.abs().max().item<double>()) << k << " b=" << b;
      }
    }
}
