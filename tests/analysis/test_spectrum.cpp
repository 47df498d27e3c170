// compute_spectrum: a checkpoint layer's operator built with the typed options, solved by the registry, and
// recorded with what the results file says about it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "analysis/spectrum.hpp"
#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/cordsnet/detect.hpp"
#include "model/io/checkpoint.hpp"

using namespace convdyn;
using namespace convdyn::analysis;

namespace {
model::Network fixture_net() {
  return *model::detect_cordsnet(model::load_checkpoint(convdyn::testing::fixture("cordsnet_d4_param_module.pth")));
}
}  // namespace

TEST(Spectrum, DefaultsAreTheTenRightmostByKrylovSchurInFloat64) {
  const SpectrumOptions o;
  EXPECT_EQ(o.solve.method, linalg::Method::KrylovSchur);
  EXPECT_EQ(o.solve.common.which, linalg::Which::LR);
  EXPECT_EQ(o.solve.common.k, 10);
  EXPECT_EQ(o.dtype, at::kDouble);
  EXPECT_EQ(o.padding, linalg::Padding::Zero);
}

TEST(Spectrum, LayerInfoAndResultFollowTheOptions) {
  const auto net = fixture_net();
  const auto& layer = net.layer("area_conv.1");
  SpectrumOptions o;
  o.solve.common.k = 4;
  o.dtype = at::kFloat;
  o.padding = linalg::Padding::Circular;
  o.solve.common.tol = 1e-5;
  const auto s = compute_spectrum(layer, o);
  EXPECT_EQ(s.layer.name, "area_conv.1");
  EXPECT_EQ(s.layer.n, layer.n());
  EXPECT_EQ(s.layer.dtype, "float32");
  EXPECT_EQ(s.layer.padding, "circular");
  EXPECT_EQ(s.layer.device, "cpu");
  EXPECT_EQ(s.result.method, "krylov-schur");
  ASSERT_EQ(s.result.size(), 4);
  EXPECT_TRUE(s.result.all_converged());
  // The dense method on the same layer, float64, zero padding: the values krylov-schur finds there.
  o.dtype = at::kDouble;
  o.padding = linalg::Padding::Zero;
  o.solve.common.tol = 1e-12;
  const auto ks = compute_spectrum(layer, o);
  o.solve.method = linalg::Method::Dense;
  const auto dense = compute_spectrum(layer, o);
  EXPECT_EQ(dense.result.method, "dense");
  ASSERT_EQ(dense.result.size(), 4);
  for (Eigen::Index i = 0; i < 4; ++i) EXPECT_LT(std::abs(ks.result.values(i) - dense.result.values(i)), 1e-9) << i;
}

TEST(Spectrum, ProgressLinesComeFromLongSolvesOnly) {
  const auto net = fixture_net();
  SpectrumOptions o;
  int lines = 0;
  o.progress = [&](const std::string&) { ++lines; };
  compute_spectrum(net.layer("area_conv.0"), o);
  EXPECT_EQ(lines, 0) << "a sub-second solve printed progress";
}
