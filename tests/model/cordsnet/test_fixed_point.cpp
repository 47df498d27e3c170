// Fixed points of the CordsNet map: reached with a tiny residual, from a given start, and the statuses of
// the runs that do not get there.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/cordsnet/fixed_point.hpp"
#include "model/cordsnet/jacobian.hpp"
#include "model/cordsnet/support.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {

const Checkpoint& expected() { return convdyn::tests::dynamics_expected(); }

}  // namespace

TEST(FixedPoint, ZeroInputSteadyStateSatisfiesTheResidual) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_lm_lr.pth")));
  const auto r = net.simulate(at::zeros({1, 1, 32, 32}, at::kDouble), 1500, 0);
  EXPECT_LE(fixed_point_residual(net, at::Tensor(), r, 0.2), 1e-12);

  const auto fp = find_fixed_point(net, at::Tensor(), {}, FixedPointOptions{});
  EXPECT_TRUE(fp.converged);
  EXPECT_EQ(fp.status, "converged");
  EXPECT_LE(fp.residual, 1e-10);
  EXPECT_GT(fp.steps, 100);
  EXPECT_LT(fp.steps, 20000);
  EXPECT_LE(fixed_point_residual(net, at::Tensor(), fp.state, 0.2), 1e-10);
  for (std::size_t l = 0; l < r.size(); ++l)
    EXPECT_LE((fp.state[l] - r[l]).abs().max().item<double>(), 1e-8) << "area " << l;
}

TEST(FixedPoint, WithAnImageFromAGivenStart) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d2_float64.pth")));
  const auto& image = expected().get("d2/image");
  const auto inp = net.input_drive(image);
  FixedPointOptions opt;
  opt.tol = 1e-12;
  const auto fp = find_fixed_point(net, inp, net.simulate(image, 100, 0), opt);
  EXPECT_EQ(fp.status, "converged") << fp.residual;
  EXPECT_LE(fixed_point_residual(net, inp, fp.state, 0.2), 1e-12);
}

TEST(FixedPoint, MaxStepsIsAStatusNotAnError) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d2_float64.pth")));
  FixedPointOptions opt;
  opt.max_steps = 7;
  opt.check_every = 3;
  const auto fp = find_fixed_point(net, at::Tensor(), {}, opt);
  EXPECT_EQ(fp.status, "max-steps");
  EXPECT_FALSE(fp.converged);
  EXPECT_EQ(fp.steps, 7);
  EXPECT_GT(fp.residual, 1e-10);
  opt.max_steps = 0;
  EXPECT_THROW(find_fixed_point(net, at::Tensor(), {}, opt), ValueError);
}

TEST(FixedPoint, ContrivedDivergingNetworkIsReportedAsDiverging) {
  // The unstable fixture's area 2 (rightmost Re lambda = 1.3) replaced by a positive kernel (Perron
  // eigenvalue > 2.5 with a positive eigenvector) and positive biases: relu stays linear and the state grows.
  auto ckpt = load_checkpoint(fixture("cordsnet_d4_unstable.pth"));
  ckpt.tensors["area_conv.2.parametrizations.weight.original1"] = at::ones({4, 4, 3, 3}, at::kFloat);
  ckpt.tensors["area_conv.2.parametrizations.weight.original0"] = at::ones({4, 1, 1, 1}, at::kFloat);
  ckpt.tensors["conv_bias.2"] = at::ones({4, 4, 4}, at::kFloat);
  const CordsNet net(ckpt);
  const auto inp = net.input_drive(expected().get("d4/image").narrow(0, 0, 1));
  FixedPointOptions opt;
  opt.check_every = 10;
  FixedPoint fp;
  ASSERT_NO_THROW(fp = find_fixed_point(net, inp, {}, opt));
  EXPECT_EQ(fp.status, "diverging");
  EXPECT_FALSE(fp.converged);
  EXPECT_LT(fp.steps, 1000);

  // The fixture itself does not throw either, whatever the outcome.
  const CordsNet unstable(load_checkpoint(fixture("cordsnet_d4_unstable.pth")));
  opt.max_steps = 2000;
  ASSERT_NO_THROW(fp = find_fixed_point(unstable, unstable.input_drive(expected().get("d4/image").narrow(0, 0, 1)),
                                        {}, opt));
  EXPECT_TRUE(fp.status == "converged" || fp.status == "oscillating" || fp.status == "diverging" ||
              fp.status == "max-steps")
      << fp.status;
}
