// The zoo's whole network (model/convrnn/network.hpp) against the independent float64 reference
// tests/fixtures/zoo_network_reference.py (written from docs/convrnn-network.md): per-step outputs of every
// layer, logits, final cell states, and the state map's fixed point, on the zoo-shaped bundles of
// tests/fixtures/convrnn_network (all seven cells shallow, gru/ugrnn/timedecay intermediate, rgc_intermediate
// with and without its feedback edges).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/convrnn/network.hpp"
#include "model/convrnn/network_jacobian.hpp"
#include "model/io/checkpoint.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {
const Checkpoint& expected() {
  static const Checkpoint c = load_checkpoint(fixture("convrnn_network/expected.pth"));
  return c;
}
at::Tensor get(const std::string& key) {
  auto it = expected().tensors.find(key);
  if (it == expected().tensors.end()) throw std::runtime_error("expected.pth has no " + key);
  return it->second.to(at::kDouble);
}
double rel_err(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(1.0, want.abs().max().item<double>());
}
const std::vector<std::string> kBundles = {
    "timedecay_shallow", "simplernn_shallow", "gru_shallow",         "lstm_shallow",
    "ugrnn_shallow",     "intersectionrnn_shallow", "rgc_shallow",   "gru_intermediate",
    "ugrnn_intermediate", "timedecay_intermediate", "rgc_intermediate", "rgc_intermediate_nofb"};

ConvRNNNetwork network(const std::string& b, const at::Tensor& images) {
  ConvRNNNetworkOptions o;
  o.height = images.size(2);
  o.width = images.size(3);
  return ConvRNNNetwork(load_checkpoint(fixture("convrnn_network/" + b + "/model.ckpt")), o);
}
}  // namespace

class ZooNetwork : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooNetwork, ForwardMatchesReference) {
  const std::string b = GetParam();
  const auto images = get(b + "/fwd/images");
  const auto net = network(b, images);
  const auto times = static_cast<std::int64_t>(get(b + "/opt/times").item<double>());
  const auto off = static_cast<std::int64_t>(get(b + "/opt/image_off").item<double>());
  const double off_value = get(b + "/opt/off_value").item<double>();
  EXPECT_EQ(net.has_feedback(), get(b + "/opt/feedback").item<double>() != 0);
  EXPECT_EQ(net.classes(), static_cast<std::int64_t>(get(b + "/opt/classes").item<double>()));
  const auto want_logits = get(b + "/fwd/logits");  // (times, 2, K)
  auto s = net.zero_state(2);
  const bool per_layer = b.find("_nofb") == std::string::npos;
  for (std::int64_t t = 0; t < times; ++t) {
    const auto frame = t < off ? images : at::full_like(images, off_value);
    s = net.step(s, frame);
    EXPECT_LT(rel_err(net.logits(s), want_logits[t]), 1e-10) << b << " logits t=" << t;
    if (!per_layer) continue;
    for (std::size_t i = 0; i + 1 < net.nodes().size(); ++i) {
      const auto& n = net.nodes()[i];
      const auto want = get(b + "/fwd/" + n.name + "/t" + std::to_string(t));
      ASSERT_EQ(s.outputs[i].narrow(0, 0, 1).sizes(), want.sizes()) << b << " " << n.name;
      EXPECT_LT(rel_err(s.outputs[i].narrow(0, 0, 1), want), 1e-10) << b << " " << n.name << " t=" << t;
    }
  }
  if (per_layer)
    for (std::size_t c = 0; c < net.model().layers.size(); ++c) {
      const auto& name = net.model().layers[c].name;
      EXPECT_LT(rel_err(s.cells[c].narrow(0, 0, 1), get(b + "/fwd/" + name + "/state_final")), 1e-10) << b << name;
    }
}

TEST_P(ZooNetwork, StateMapFixedPointMatchesReference) {
  const std::string b = GetParam();
  const auto image = get(b + "/fp/image");
  const auto net = network(b, image);
  const auto z_want = get(b + "/fp/z");
  ASSERT_EQ(net.state_size(), z_want.size(0)) << b;
  const auto blocks = net.state_blocks();
  for (const auto& [name, d] : blocks) {
    const auto want = get(b + "/fp/block/" + name);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(d[static_cast<std::size_t>(k)], want[k].item<double>()) << b << " " << name;
  }
  const auto prefix = net.prefix_outputs(image);
  // F(z*) = z* at the reference's fixed point, to the reference's residual.
  EXPECT_LT(rel_err(net.state_map(z_want, prefix), z_want), 1e-11) << b;
  if (expected().tensors.count(b + "/fp/logits")) {
    EXPECT_LT(rel_err(net.readout(z_want), get(b + "/fp/logits")), 1e-11) << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Bundles, ZooNetwork, ::testing::ValuesIn(kBundles),
                         [](const auto& info) { return info.param; });

TEST(ZooNetworkErrors, MissingLayersAndSmallImages) {
  auto ck = load_checkpoint(fixture("convrnn_network/gru_shallow/model.ckpt"));
  ConvRNNNetworkOptions o;
  o.height = o.width = 32;  // conv5 leaves 1x1, less than the 2x2 VALID readout: the state map works, the readout not
  const ConvRNNNetwork small(ck, o);
  EXPECT_THROW(small.check_readout(), ValueError);
  EXPECT_THROW(small.step(small.zero_state(1), at::zeros({1, 3, 32, 32}, at::kDouble)), ValueError);
  o.height = o.width = 66;
  EXPECT_NO_THROW(ConvRNNNetwork(ck, o));
  auto no_conv2 = ck;
  for (auto it = no_conv2.tensors.begin(); it != no_conv2.tensors.end();)
    it = it->first.rfind("tnn_model/conv2/", 0) == 0 ? no_conv2.tensors.erase(it) : std::next(it);
  EXPECT_THROW(ConvRNNNetwork(no_conv2, o), ValueError);
  const auto p = default_presentation("shallow", "zoo/gru_shallow/model.ckpt");
  EXPECT_EQ(p.times, 16);
  EXPECT_EQ(p.image_off, 12);
  EXPECT_EQ(default_presentation("intermediate", "x/ugrnn_intermediate_t30/model.ckpt").times, 30);
  EXPECT_FALSE(default_presentation("intermediate", "x/rgc_intermediate_t22/model.ckpt").image_off.has_value());
  EXPECT_EQ(default_presentation("intermediate", "x/rgc_intermediate/model.ckpt").times, 17);
}

// --- the joint state map's fixed point and Jacobian ---------------------------------------------------------

namespace {
/// The dense Jacobian [n, n] (J e_j by columns).
at::Tensor dense(const linalg::LinearOperator& J) {
  const auto n = J.size();
  at::Tensor m = at::empty({n, n}, at::kDouble);
  for (std::int64_t j0 = 0; j0 < n; j0 += 64) {
    const auto k = std::min<std::int64_t>(64, n - j0);
    const auto e = at::eye(n, at::kDouble).narrow(0, j0, k);
    m.narrow(1, j0, k).copy_(J.apply(e).t());
  }
  return m;
}
}  // namespace

TEST_P(ZooNetwork, JacobianAtTheFixedPointMatchesReference) {
  const std::string b = GetParam();
  const auto image = get(b + "/fp/image");
  const auto net = network(b, image);
  const auto fp = find_zoo_fixed_point(net, image, {1e-14, 20000, 1e8});
  ASSERT_TRUE(fp.converged) << b << " " << fp.status << " " << fp.residual;
  EXPECT_LT(rel_err(fp.z, get(b + "/fp/z")), 1e-10) << b;
  const ZooNetworkJacobian J(net, image, fp.z);
  ASSERT_EQ(J.size(), net.state_size());
  if (expected().tensors.count(b + "/fp/jac")) {
    EXPECT_LT(rel_err(dense(J), get(b + "/fp/jac")), 1e-8) << b;  // the reference differentiates numerically
  } else {
    const auto v = get(b + "/fp/jvp/v0");
    EXPECT_LT(rel_err(J.apply(v.unsqueeze(0))[0], get(b + "/fp/jvp/Jv0")), 1e-8) << b;
  }
  // J^T is the adjoint of J: <J^T u, v> = <u, J v>.
  at::manual_seed(1);
  const auto u = at::randn({1, J.size()}, at::kDouble), v = at::randn({1, J.size()}, at::kDouble);
  const double lhs = (J.apply_transpose(u) * v).sum().item<double>(), rhs = (u * J.apply(v)).sum().item<double>();
  EXPECT_NEAR(lhs, rhs, 1e-11 * std::max(1.0, std::abs(rhs))) << b;
  if (J.size() > 1100) return;  // the dense checks below (every bundle here; a larger one would take long)
  const auto m = dense(J);
  // Power sums trace(J^p), p = 1..4, against the reference's dense Jacobian; without feedback they equal the sums
  // over the cells' own eigenvalues (the joint spectrum is their union plus zeros).
  const auto want = get(b + "/fp/trace_pow");
  at::Tensor mp = m.clone();
  const bool union_test = !net.has_feedback();
  for (int p = 1; p <= 4; ++p) {
    const double tr = mp.trace().item<double>();
    EXPECT_NEAR(tr, want[p - 1].item<double>(), 1e-9 * std::max(1.0, std::abs(tr))) << b << " p=" << p;
    if (union_test) {
      double cells = 0;
      for (const auto& L : net.model().layers) {
        const auto re = get(b + "/fp/cell/" + L.name + "/eigvals_real"), im = get(b + "/fp/cell/" + L.name + "/eigvals_imag");
        cells += at::real(at::pow(at::complex(re, im), p)).sum().item<double>();
      }
      EXPECT_NEAR(tr, cells, 1e-9 * std::max(1.0, std::abs(tr))) << b << " union, p=" << p;
    }
    mp = at::matmul(mp, m);
  }
}
