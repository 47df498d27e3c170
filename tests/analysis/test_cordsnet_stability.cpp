#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>

#include "analysis/cordsnet_stability.hpp"
#include "fixture_path.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "model/io/checkpoint.hpp"
#include "model/cordsnet/detect.hpp"

using namespace convdyn;
using namespace convdyn::analysis;
using convdyn::testing::fixture;

namespace {
struct Loaded {
  model::Checkpoint ckpt;
  model::Network net;
};
Loaded load(const std::string& name) {
  auto c = model::load_checkpoint(fixture(name));
  auto n = model::detect_cordsnet(c);
  return {std::move(c), std::move(*n)};
}
Eigen::MatrixXd dense_w(const model::RecurrentLayer& l) {
  linalg::ConvOperator op(l.weight, l.height, l.width);
  auto t = op.to_dense();
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(t.data_ptr<double>(), t.size(0), t.size(1));
}
}  // namespace

TEST(Stability, FindsTheUnstableArea) {
  auto m = load("cordsnet_d4_unstable.pth");
  const auto rep = analyse_stability(m.ckpt, m.net, at::Tensor(), StabilityOptions{});
  ASSERT_EQ(rep.areas.size(), 4u);
  EXPECT_EQ(rep.verdict, Verdict::Unstable);
  for (const auto& a : rep.areas) {
    if (a.layer.name == "area_conv.2") {
      EXPECT_EQ(a.verdict, Verdict::Unstable);
      EXPECT_NEAR(a.abscissa, 1.3, 1e-6);  // the fixture's design value (exact values: see the dense test)
      EXPECT_LT(a.margin, 0);
    } else {
      EXPECT_EQ(a.verdict, Verdict::Stable) << a.layer.name << ": " << a.reason;
    }
    ASSERT_EQ(a.fixed_points.size(), 1u);
    EXPECT_TRUE(a.fixed_points[0].reached);
    EXPECT_LT(a.fixed_points[0].spectral_radius, 1.0);  // locally stable at zero input even for area 2
  }
}

TEST(Stability, CertificatesMatchDenseLinearAlgebra) {
  auto m = load("cordsnet_d4_unstable.pth");
  const auto rep = analyse_stability(m.ckpt, m.net, at::Tensor(), StabilityOptions{});
  for (std::size_t l = 0; l < rep.areas.size(); ++l) {
    const auto& a = rep.areas[l];
    const Eigen::MatrixXd w = dense_w(m.net.layers[l]);
    const double norm2 = Eigen::JacobiSVD<Eigen::MatrixXd>(w).singularValues()(0);
    const double omega =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(0.5 * (w + w.transpose())).eigenvalues().maxCoeff();
    const auto ev = Eigen::EigenSolver<Eigen::MatrixXd>(w, false).eigenvalues();
    EXPECT_NEAR(a.norm2, norm2, 1e-9 * norm2) << a.layer.name;
    EXPECT_NEAR(a.numerical_abscissa, omega, 1e-9 * std::abs(omega)) << a.layer.name;
    EXPECT_NEAR(a.abscissa, ev.real().maxCoeff(), 1e-9) << a.layer.name;
    EXPECT_NEAR(a.spectral_radius, ev.cwiseAbs().maxCoeff(), 1e-9) << a.layer.name;
    EXPECT_EQ(a.contraction, norm2 < 1.0) << a.layer.name;
    EXPECT_TRUE(a.norm2_converged && a.numerical_abscissa_converged);
  }
}

TEST(Stability, LargestMagnitudeAndRightmostDisagree) {
  auto m = load("cordsnet_d4_lm_lr.pth");
  const auto rep = analyse_stability(m.ckpt, m.net, at::Tensor(), StabilityOptions{});
  const auto& a = rep.areas[1];
  EXPECT_GT(a.spectral_radius, 2.0);            // dominated by a large negative eigenvalue...
  EXPECT_LT(a.largest.values[0].real(), 0.0);
  EXPECT_NEAR(a.abscissa, 0.9, 1e-6);           // ...while the rightmost one (design value) decides: stable
  EXPECT_EQ(a.verdict, Verdict::Stable) << a.reason;
  EXPECT_EQ(rep.verdict, Verdict::Stable);
}

TEST(Stability, SilentInputsChangeTheMask) {
  auto m = load("cordsnet_d4_silent.pth");
  const at::Tensor images = at::full({1, 1, 32, 32}, -3.0, at::kDouble);
  const auto rep = analyse_stability(m.ckpt, m.net, images, StabilityOptions{});
  ASSERT_EQ(rep.inputs.size(), 2u);
  bool mask_matters = false;
  for (const auto& a : rep.areas) {
    ASSERT_EQ(a.fixed_points.size(), 2u);
    const auto& f = a.fixed_points[1];
    if (!f.reached) continue;
    EXPECT_LT(f.active_fraction, 1.0);
    // D W differs from W: its rightmost eigenvalue is not W's.
    if (std::abs(f.masked_abscissa - a.abscissa) > 1e-3) mask_matters = true;
    // The discrete map's eigenvalues are 1 - alpha + alpha * eig(D W): its spectral radius is at least
    // |1 - alpha + alpha * mu| for the rightmost mu.
    EXPECT_GE(f.spectral_radius + 1e-9, std::abs(1 - rep.alpha + rep.alpha * f.masked_abscissa));
  }
  EXPECT_TRUE(mask_matters);
}

TEST(Stability, UnreachedFixedPointIsUndecidedNotAnswered) {
  auto m = load("cordsnet_d4_unstable.pth");
  StabilityOptions o;
  o.max_steps = 3;  // far too few to reach a fixed point
  const auto rep = analyse_stability(m.ckpt, m.net, at::Tensor(), o);
  for (const auto& a : rep.areas) {
    EXPECT_FALSE(a.fixed_points[0].reached);
    EXPECT_EQ(a.fixed_points[0].verdict, Verdict::Undecided);
    // Only the input-independent criteria can still decide: the contraction certificate (stable) or an
    // unstable linear model; everything else must stay undecided.
    const Verdict expected = a.abscissa >= 1.0 ? Verdict::Unstable
                             : a.contraction  ? Verdict::Stable
                                              : Verdict::Undecided;
    EXPECT_EQ(a.verdict, expected) << a.layer.name << ": " << a.reason;
  }
  EXPECT_EQ(rep.verdict, Verdict::Unstable);
}
