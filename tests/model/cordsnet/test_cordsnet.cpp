// CordsNet simulation against the independent Python reference (tests/fixtures/cordsnet_reference.py,
// dynamics_expected.pth), input checks, and fixed points.
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

/// The case -> checkpoint table of cordsnet_reference.py.
std::string checkpoint_of(const std::string& c) {
  if (c == "d4") return "cordsnet_d4_param_module.pth";
  if (c == "d4_legacy_train") return "cordsnet_d4_legacy_train.pth";
  if (c == "d2") return "cordsnet_d2_float64.pth";
  if (c == "d4_silent") return "cordsnet_d4_silent.pth";
  throw std::runtime_error("unknown case " + c);
}

/// max |a - ref| / max(1, |ref|), elementwise.
double rel_err(const at::Tensor& a, const at::Tensor& ref) {
  EXPECT_EQ(a.sizes(), ref.sizes());
  if (a.sizes() != ref.sizes()) return 1e300;
  auto r = ref.to(at::kDouble);
  return ((a.to(at::kDouble) - r).abs() / r.abs().clamp_min(1.0)).max().item<double>();
}

}  // namespace

class Dynamics : public ::testing::TestWithParam<std::tuple<const char*, bool>> {};

TEST_P(Dynamics, MatchesThePythonReference) {
  const std::string c = std::get<0>(GetParam());
  const bool f32 = std::get<1>(GetParam());
  const auto dtype = f32 ? at::kFloat : at::kDouble;
  const double tol = f32 ? 1e-5 : 1e-10;
  const std::string pre = c + (f32 ? "/f32/" : "/");
  const auto& ex = expected();
  const double alpha = ex.get("alpha").item<double>();
  ASSERT_DOUBLE_EQ(alpha, 0.2);
  const CordsNet net(load_checkpoint(fixture(checkpoint_of(c))), dtype);
  const auto& image = ex.get(c + "/image");

  const auto inp = net.input_drive(image);
  EXPECT_EQ(inp.scalar_type(), dtype);
  EXPECT_LE(rel_err(inp, ex.get(pre + "inp")), tol);

  const auto r_zero = net.simulate(image, 100, 0, alpha);
  const auto r_final = net.simulate(image, 100, 100, alpha);
  std::vector<at::Tensor> ref_final;
  for (std::int64_t l = 0; l < net.depth(); ++l) {
    EXPECT_LE(rel_err(r_zero[l], ex.get(pre + fmt::format("r_zero.{}", l))), tol) << "area " << l;
    ref_final.push_back(ex.get(pre + fmt::format("r_final.{}", l)).to(dtype));
    EXPECT_LE(rel_err(r_final[l], ref_final.back()), tol) << "area " << l;
  }
  // Pre-activations and logits from the reference's own final state (isolates them from the simulation).
  const auto u = net.preactivations(ref_final, inp);
  for (std::int64_t l = 0; l < net.depth(); ++l)
    EXPECT_LE(rel_err(u[l], ex.get(pre + fmt::format("u_final.{}", l))), tol) << "area " << l;
  EXPECT_LE(rel_err(net.logits(ref_final), ex.get(pre + "logits")), tol);
  EXPECT_LE(rel_err(net.logits(r_final), ex.get(pre + "logits")), tol);
}

INSTANTIATE_TEST_SUITE_P(Cases, Dynamics,
                         ::testing::Combine(::testing::Values("d4", "d4_legacy_train", "d2", "d4_silent"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + (std::get<1>(info.param) ? "_f32" : "_f64");
                         });

TEST(CordsNet, StructureFromTheShapes) {
  const CordsNet d4(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  EXPECT_EQ(d4.depth(), 4);
  EXPECT_EQ(d4.channels(), (std::vector<std::int64_t>{3, 3, 4, 4}));
  EXPECT_EQ(d4.heights(), (std::vector<std::int64_t>{8, 8, 4, 4}));
  EXPECT_EQ(d4.widths(), (std::vector<std::int64_t>{8, 8, 4, 4}));
  EXPECT_EQ(d4.strides(), (std::vector<std::int64_t>{1, 1, 2, 1}));
  EXPECT_EQ(d4.input_channels(), 1);
  EXPECT_EQ(d4.drive_channels(), 3);
  EXPECT_EQ(d4.total_n(), 192 + 192 + 64 + 64);
  EXPECT_EQ(d4.recurrent_weight(2).scalar_type(), at::kDouble);
  EXPECT_EQ(d4.recurrent_weight(2).sizes(), (at::IntArrayRef{4, 4, 3, 3}));
  const auto z = d4.zero_state(3);
  ASSERT_EQ(z.size(), 4u);
  EXPECT_EQ(z[3].sizes(), (at::IntArrayRef{3, 4, 4, 4}));
  const CordsNet d2(load_checkpoint(fixture("cordsnet_d2_plain.pth")), at::kFloat);
  EXPECT_EQ(d2.strides(), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(d2.zero_state(1)[1].scalar_type(), at::kFloat);
  EXPECT_THROW(d4.recurrent_weight(4), ValueError);
}

TEST(CordsNet, RejectsCheckpointsThatAreNotCordsNets) {
  EXPECT_THROW(CordsNet(load_checkpoint(fixture("generic_kernels.pth"))), ValueError);
  auto ckpt = load_checkpoint(fixture("cordsnet_d4_param_module.pth"));
  ckpt.tensors.erase("skip_area.0.parametrizations.weight.original1");
  ckpt.tensors.erase("skip_area.0.parametrizations.weight.original0");
  try {
    CordsNet net(ckpt);
    ADD_FAILURE() << "accepted a CordsNet without skip_area.0";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("skip_area.0"), std::string::npos) << e.what();
  }
}

TEST(CordsNet, CheckImageNamesTheSizes) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  EXPECT_NO_THROW(net.check_image({2, 1, 32, 32}));
  EXPECT_NO_THROW(net.check_image({1, 29, 30}));  // ceil(ceil(29/2)/2) = 8
  try {
    net.check_image({1, 1, 24, 24});
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("image of 24x24 gives an input drive of 6x6 but area 0 is 8x8"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(net.check_image({1, 3, 32, 32}), ValueError);  // channels
  EXPECT_THROW(net.check_image({32, 32}), ValueError);
  EXPECT_THROW(net.input_drive(at::zeros({1, 1, 40, 40}, at::kDouble)), ValueError);
  EXPECT_THROW(net.simulate(at::zeros({1, 1, 16, 32}, at::kDouble), 1, 1), ValueError);
}

TEST(CordsNet, ZeroImageDriveIsExactlyZero) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto inp = net.input_drive(at::zeros({1, 1, 32, 32}, at::kDouble));
  EXPECT_EQ(inp.abs().max().item<double>(), 0.0);
  auto a = net.zero_state(1), b = net.zero_state(1);
  for (int t = 0; t < 5; ++t) {
    net.step(a, inp, 0.2);
    net.step(b, at::Tensor(), 0.2);
  }
  for (std::size_t l = 0; l < a.size(); ++l) EXPECT_TRUE(at::equal(a[l], b[l])) << l;
}

TEST(CordsNet, SilentInputSwitchesMostUnitsOff) {
  const auto& ex = expected();
  double active = 0, total = 0;
  for (int l = 0; l < 4; ++l) {
    const auto m = relu_mask(ex.get(fmt::format("d4_silent/u_final.{}", l)));
    active += m.sum().item<double>();
    total += static_cast<double>(m.numel());
  }
  EXPECT_LT(active / total, 0.4) << "active fraction";
  EXPECT_GT(active, 0) << "some units must stay active";
}
