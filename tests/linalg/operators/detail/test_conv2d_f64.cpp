// Conv2dF64 against at::conv2d (zero and circular padding), the adjoint identity, and the error paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/operators/detail/conv2d_f64.hpp"

using convdyn::linalg::detail::Conv2dAlgo;
using convdyn::linalg::detail::Conv2dF64;

namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

at::Tensor reference(const at::Tensor& x, const at::Tensor& w, bool circular) {
  const int64_t p = w.size(2) / 2;
  if (!circular) return at::conv2d(x, w, {}, at::IntArrayRef{1}, at::IntArrayRef{p});
  return at::conv2d(at::pad(x, {p, p, p, p}, "circular"), w, {}, at::IntArrayRef{1}, at::IntArrayRef{0});
}

// max |y - ref| / max |ref|
double rel_err(const at::Tensor& y, const at::Tensor& ref) {
  return (y - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

struct Grid {
  int64_t h, w;
};

class ConvVsTorch : public ::testing::TestWithParam<std::tuple<int64_t, bool, Conv2dAlgo>> {};

TEST_P(ConvVsTorch, MatchesConv2d) {
  const auto [k, circular, algo] = GetParam();
  at::manual_seed(1234 + k);
  const std::vector<Grid> grids = {{5, 7}, {1, 9}, {13, 4}, {56, 56}};
  double worst = 0.0;
  int cases = 0;
  for (const Grid& g : grids) {
    if (circular && (k / 2 > g.h || k / 2 > g.w)) continue;  // not a valid circular operator (error test below)
    for (int64_t c : {1, 2, 5, 64}) {
      for (int64_t b : {1, 3, 8}) {
        if (g.h * g.w * c * b > 56 * 56 * 64 * 3) continue;  // keeps the at::conv2d reference affordable
        const at::Tensor w = at::randn({c, c, k, k}, kF64);
        const at::Tensor x = at::randn({b, c, g.h, g.w}, kF64);
        const Conv2dF64 op(w, g.h, g.w, circular, algo);
        const double e = rel_err(op.apply(x), reference(x, w, circular));
        EXPECT_LE(e, 1e-13) << "k=" << k << " circular=" << circular << " grid " << g.h << "x" << g.w << " C=" << c
                            << " b=" << b << " algo " << to_string(op.algo_for(b));
        worst = std::max(worst, e);
        ++cases;
      }
    }
  }
  std::cout << "[          ] k=" << k << (circular ? " circular " : " zero ") << to_string(algo) << ": " << cases
            << " cases, max rel err " << worst << "\n";
}

std::string case_name(const ::testing::TestParamInfo<ConvVsTorch::ParamType>& info) {
  return "k" + std::to_string(std::get<0>(info.param)) + (std::get<1>(info.param) ? "_circular_" : "_zero_") +
         to_string(std::get<2>(info.param));
}

// Every kernel size with the automatic and the direct algorithm; Winograd (k = 3 only) on its own.
INSTANTIATE_TEST_SUITE_P(All, ConvVsTorch,
                         ::testing::Combine(::testing::Values<int64_t>(1, 3, 5, 7), ::testing::Bool(),
                                            ::testing::Values(Conv2dAlgo::Auto, Conv2dAlgo::Direct)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Winograd, ConvVsTorch,
                         ::testing::Combine(::testing::Values<int64_t>(3), ::testing::Bool(),
                                            ::testing::Values(Conv2dAlgo::Winograd)),
                         case_name);

// C_out != C_in, the target shapes' channel counts on small grids, and batches large enough for grouping.
TEST(Conv2dF64, RectangularChannelsAndGroups) {
  at::manual_seed(7);
  for (bool circular : {false, true})
    for (Conv2dAlgo algo : {Conv2dAlgo::Auto, Conv2dAlgo::Direct, Conv2dAlgo::Winograd})
      for (auto [co, ci, h, w, b] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
               {3, 8, 6, 5, 2}, {16, 4, 7, 7, 24}, {128, 32, 7, 7, 5}, {8, 24, 14, 14, 9}}) {
        const at::Tensor wt = at::randn({co, ci, 3, 3}, kF64);
        const at::Tensor x = at::randn({b, ci, h, w}, kF64);
        const Conv2dF64 op(wt, h, w, circular, algo);
        EXPECT_LE(rel_err(op.apply(x), reference(x, wt, circular)), 1e-13)
            << co << "x" << ci << " " << h << "x" << w << " b=" << b << " " << to_string(op.algo_for(b));
      }
}

TEST(Conv2dF64, InputShapesAndLayouts) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({4, 3, 3, 3}, kF64);
  const Conv2dF64 op(w, 6, 5, false);
  const at::Tensor x = at::randn({2, 3, 6, 5}, kF64);
  const at::Tensor ref = reference(x, w, false);
  const at::Tensor y4 = op.apply(x);
  EXPECT_EQ(y4.sizes(), (std::vector<int64_t>{2, 4, 6, 5}));
  EXPECT_LE(rel_err(y4, ref), 1e-13);
  const at::Tensor y2 = op.apply(x.reshape({2, 90}));
  EXPECT_EQ(y2.sizes(), (std::vector<int64_t>{2, 120}));
  EXPECT_LE(rel_err(y2.reshape({2, 4, 6, 5}), ref), 1e-13);
  const at::Tensor y3 = op.apply(x[1]);
  EXPECT_EQ(y3.sizes(), (std::vector<int64_t>{4, 6, 5}));
  EXPECT_LE(rel_err(y3, ref[1]), 1e-13);
  const at::Tensor y1 = op.apply(x[0].reshape({-1}));
  EXPECT_EQ(y1.sizes(), (std::vector<int64_t>{120}));
  EXPECT_LE(rel_err(y1.reshape({4, 6, 5}), ref[0]), 1e-13);
  // A non-contiguous input is copied first.
  const at::Tensor xt = x.transpose(2, 3).contiguous().transpose(2, 3);
  ASSERT_FALSE(xt.is_contiguous());
  EXPECT_LE(rel_err(op.apply(xt), ref), 1e-13);
  // apply_out into a flat buffer
  at::Tensor out = at::empty({240}, kF64);
  op.apply_out(x, out);
  EXPECT_LE(rel_err(out.reshape({2, 4, 6, 5}), ref), 1e-13);
  // An empty batch.
  EXPECT_EQ(op.apply(at::empty({0, 90}, kF64)).sizes(), (std::vector<int64_t>{0, 120}));
  // The weight round-trips through the packed copy (any input dtype).
  EXPECT_TRUE(at::equal(Conv2dF64(w.to(at::kFloat), 6, 5, true).weight(), w.to(at::kFloat).to(at::kDouble)));
}

// <y, W x> = <W^T y, x>, and W^T against at::conv_transpose2d for zero padding.
TEST(Conv2dF64, TransposeIsAdjoint) {
  at::manual_seed(11);
  for (bool circular : {false, true})
    for (int64_t k : {1, 3, 5, 7})
      for (Conv2dAlgo algo : {Conv2dAlgo::Auto, Conv2dAlgo::Direct}) {
        const int64_t co = 6, ci = 4, h = 9, w = 8, b = 3;
        const at::Tensor wt = at::randn({co, ci, k, k}, kF64);
        const Conv2dF64 op(wt, h, w, circular, algo);
        const Conv2dF64 opt = op.transposed();
        EXPECT_EQ(opt.in_channels(), co);
        EXPECT_EQ(opt.out_channels(), ci);
        const at::Tensor x = at::randn({b, ci, h, w}, kF64), y = at::randn({b, co, h, w}, kF64);
        const at::Tensor wx = op.apply(x), wty = opt.apply(y);
        const double lhs = (y * wx).sum().item<double>(), rhs = (wty * x).sum().item<double>();
        // relative to the sum of |products|, the scale of the rounding error of either inner product
        const double scale = (y * wx).abs().sum().item<double>();
        EXPECT_LE(std::abs(lhs - rhs) / scale, 1e-12) << "k=" << k << " circular=" << circular;
        EXPECT_LE(std::abs(lhs - rhs) / std::abs(lhs), 1e-12) << "k=" << k << " circular=" << circular;
        if (!circular) {
          const at::Tensor ref = at::conv_transpose2d(y, wt, {}, at::IntArrayRef{1}, at::IntArrayRef{k / 2});
          EXPECT_LE(rel_err(wty, ref), 1e-13) << "k=" << k;
        }
        if (k == 3) {  // the Winograd path of the transposed operator
          const Conv2dF64 wino(wt, h, w, circular, Conv2dAlgo::Winograd);
          const double r2 = (wino.transposed().apply(y) * x).sum().item<double>();
          EXPECT_LE(std::abs(lhs - r2) / scale, 1e-12);
        }
      }
  // transpose_weight is W^T[i, o, a, c] = W[o, i, k-1-a, k-1-c].
  const at::Tensor w = at::randn({2, 3, 5, 5}, kF64);
  const at::Tensor t = Conv2dF64::transpose_weight(w);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 5, 5}));
  EXPECT_EQ(t[2][1][0][4].item<double>(), w[1][2][4][0].item<double>());
}

template <class F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const convdyn::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Conv2dF64, ErrorPaths) {
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 2, 2}, kF64), 5, 5, false); }, "odd");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 4, 4}, kF64), 5, 5, true); }, "odd");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 3, 5}, kF64), 5, 5, false); }, "square");
  expect_invalid([] { Conv2dF64(at::randn({2, 3, 3}, kF64), 5, 5, false); }, "4-D");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 3, 3}, kF64), 0, 5, false); }, "positive");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 5, 5}, kF64), 1, 9, true); }, "circular padding");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 7, 7}, kF64), 8, 2, true); }, "circular padding");
  expect_invalid([] { Conv2dF64(at::randn({2, 2, 5, 5}, kF64), 8, 8, false, Conv2dAlgo::Winograd); }, "k = 3");
  // Zero padding has no such limit.
  EXPECT_NO_THROW(Conv2dF64(at::randn({2, 2, 5, 5}, kF64), 1, 9, false));

  const Conv2dF64 op(at::randn({4, 3, 3, 3}, kF64), 6, 5, false);
  expect_invalid([&] { op.apply(at::randn({2, 4, 6, 5}, kF64)); }, "does not match");  // C_out, not C_in
  expect_invalid([&] { op.apply(at::randn({2, 3, 5, 6}, kF64)); }, "does not match");
  expect_invalid([&] { op.apply(at::randn({2, 91}, kF64)); }, "does not match");
  expect_invalid([&] { op.apply(at::randn({1, 2, 3, 6, 5}, kF64)); }, "does not match");
  expect_invalid([&] { op.apply(at::randn({2, 3, 6, 5}, at::TensorOptions().dtype(at::kFloat))); }, "float64");
  at::Tensor small = at::empty({100}, kF64);
  expect_invalid([&] { op.apply_out(at::randn({2, 3, 6, 5}, kF64), small); }, "elements");
  at::Tensor same = at::randn({3, 4, 6, 5}, kF64);
  const Conv2dF64 sq(at::randn({4, 4, 3, 3}, kF64), 6, 5, false);
  expect_invalid([&] { sq.apply_out(same, same); }, "overlaps");
}

}  // namespace
