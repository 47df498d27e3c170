// Jacobians of the CordsNet dynamics against LibTorch autograd, transposes, and the block-triangular
// reduction of the whole network's spectrum to the per-area spectra.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <Eigen/Dense>
#include <algorithm>
#include <complex>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/cordsnet/jacobian.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {

constexpr double kAlpha = 0.2;

const Checkpoint& dyn() {
  static const Checkpoint c = load_checkpoint(fixture("dynamics_expected.pth"));
  return c;
}

/// A linearisation point of the depth-4 fixture: the reference's final state (first image) and its drive.
struct Point {
  std::vector<at::Tensor> r;
  at::Tensor inp;
};
Point d4_point(const CordsNet& net) {
  Point p;
  for (int l = 0; l < 4; ++l) p.r.push_back(dyn().get(fmt::format("d4/r_final.{}", l)).narrow(0, 0, 1).clone());
  p.inp = net.input_drive(dyn().get("d4/image").narrow(0, 0, 1));
  return p;
}

double rel_max(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1.0)).item<double>();
}

/// Every eigenvalue of `a` has its own partner in `b` (greedy nearest matching), within tol.
double multiset_distance(std::vector<std::complex<double>> a, std::vector<std::complex<double>> b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& x : a) {
    auto it = std::min_element(b.begin(), b.end(),
                               [&](const auto& p, const auto& q) { return std::abs(p - x) < std::abs(q - x); });
    if (it == b.end()) return 1e300;
    worst = std::max(worst, std::abs(*it - x));
    b.erase(it);
  }
  return worst;
}

std::vector<std::complex<double>> eigenvalues(const Eigen::MatrixXd& m) {
  Eigen::EigenSolver<Eigen::MatrixXd> es(m, false);
  EXPECT_EQ(es.info(), Eigen::Success);
  std::vector<std::complex<double>> v(es.eigenvalues().data(), es.eigenvalues().data() + es.eigenvalues().size());
  return v;
}

Eigen::MatrixXd to_eigen(const at::Tensor& t) {
  auto c = t.to(at::kDouble).contiguous();
  Eigen::MatrixXd m(c.size(0), c.size(1));
  m = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      c.data_ptr<double>(), c.size(0), c.size(1));
  return m;
}

/// Dense Jacobian of the one-step map at (r, inp) by autograd: the state replicated n times as a batch
/// (batch element b holds e_b's cotangent), one backward pass with the identity gives all n rows.
at::Tensor autograd_network_jacobian(const CordsNet& net, const std::vector<at::Tensor>& r, const at::Tensor& inp) {
  std::vector<at::Tensor> flat;
  for (const auto& t : r) flat.push_back(t.reshape({-1}));
  const auto x0 = at::cat(flat);
  const std::int64_t n = x0.numel();
  auto leaf = x0.unsqueeze(0).expand({n, n}).clone().set_requires_grad(true);
  std::vector<at::Tensor> rr;
  std::int64_t off = 0;
  for (const auto& t : r) {
    rr.push_back(leaf.narrow(1, off, t.numel()).reshape({n, t.size(1), t.size(2), t.size(3)}));
    off += t.numel();
  }
  net.step(rr, inp.expand({n, inp.size(1), inp.size(2), inp.size(3)}), kAlpha);
  std::vector<at::Tensor> outs;
  for (const auto& t : rr) outs.push_back(t.reshape({n, -1}));
  const auto out = at::cat(outs, 1);
  const auto eye = at::eye(n, at::kDouble);
  return torch::autograd::grad({out}, {leaf}, {eye})[0];  // row b = e_b^T J
}

}  // namespace

TEST(AreaJacobian, DiscreteEqualsTheAutogradJvpOfOneAreaUpdate) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto p = d4_point(net);
  at::manual_seed(3);
  for (std::int64_t l = 0; l < net.depth(); ++l) {
    const std::int64_t C = net.channels()[l], H = net.heights()[l], W = net.widths()[l];
    // One area update r_l -> (1-a) r_l + a relu(W r_l + b_l + A_l x_l), with x_l fixed.
    auto x_l = net.area_input(l, p.r, p.inp);
    const auto drive =
        at::conv2d(x_l, net.area_area(l), {}, at::IntArrayRef{net.strides()[l]}, at::IntArrayRef{1}).detach();
    auto rl = p.r[l].clone().set_requires_grad(true);
    auto u = at::conv2d(rl, net.area_conv(l), {}, at::IntArrayRef{1}, at::IntArrayRef{1}) + net.conv_bias(l) + drive;
    auto f = rl * (1 - kAlpha) + at::relu(u) * kAlpha;
    // JVP by the double-vjp trick: g(v) = J^T v is linear in v, and d<g(v), x>/dv = J x.
    auto v = at::zeros_like(f).set_requires_grad(true);
    auto g = torch::autograd::grad({f}, {rl}, {v}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    const auto x = at::randn({1, C, H, W}, at::kDouble);
    const auto jvp = torch::autograd::grad({g}, {v}, {x})[0];

    const auto mask = relu_mask(u.detach()[0]);
    const AreaJacobian jd(net.recurrent_weight(l), H, W, mask, JacobianKind::Discrete, kAlpha);
    EXPECT_LE(rel_max(jd.apply(x.reshape({-1})), jvp.reshape({-1})), 1e-12) << "area " << l;
    // The other kinds from their definitions.
    const auto dwx = at::conv2d(x, net.recurrent_weight(l), {}, at::IntArrayRef{1}, at::IntArrayRef{1}) * mask;
    const AreaJacobian jm(net.recurrent_weight(l), H, W, mask, JacobianKind::MaskedW, kAlpha);
    const AreaJacobian jc(net.recurrent_weight(l), H, W, mask, JacobianKind::Continuous, kAlpha);
    EXPECT_LE(rel_max(jm.apply(x.reshape({-1})), dwx.reshape({-1})), 1e-14);
    EXPECT_LE(rel_max(jc.apply(x.reshape({-1})), (dwx - x).reshape({-1})), 1e-14);
    EXPECT_GT(jd.active_fraction(), 0.0);
  }
}

TEST(AreaJacobian, TransposeIsConsistent) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto p = d4_point(net);
  const auto u = net.preactivations(p.r, p.inp);
  at::manual_seed(4);
  for (auto kind : {JacobianKind::MaskedW, JacobianKind::Continuous, JacobianKind::Discrete}) {
    for (std::int64_t l : {0, 2}) {
      const AreaJacobian j(net.recurrent_weight(l), net.heights()[l], net.widths()[l], relu_mask(u[l][0]), kind);
      const auto x = at::randn({3, j.size()}, at::kDouble), y = at::randn({3, j.size()}, at::kDouble);
      const auto lhs = (j.apply(x) * y).sum(1), rhs = (x * j.apply_transpose(y)).sum(1);
      EXPECT_LE(rel_max(lhs, rhs), 1e-12) << to_string(kind) << " area " << l;
      // and the dense transpose
      EXPECT_LE(rel_max(j.apply_transpose(at::eye(j.size(), at::kDouble)), j.to_dense()), 1e-13);
    }
  }
}

TEST(AreaJacobian, DiscreteEigenvaluesAreAnAffineMapOfThoseOfDW) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto p = d4_point(net);
  const auto u = net.preactivations(p.r, p.inp);
  for (std::int64_t l : {0, 3}) {
    const auto mask = relu_mask(u[l][0]);
    ASSERT_GT(mask.sum().item<double>(), 0);
    ASSERT_LT(mask.sum().item<double>(), static_cast<double>(mask.numel())) << "want a non-trivial mask";
    const AreaJacobian dw(net.recurrent_weight(l), net.heights()[l], net.widths()[l], mask, JacobianKind::MaskedW);
    const AreaJacobian jd(net.recurrent_weight(l), net.heights()[l], net.widths()[l], mask, JacobianKind::Discrete,
                          kAlpha);
    auto mapped = eigenvalues(to_eigen(dw.to_dense()));
    for (auto& z : mapped) z = 1.0 - kAlpha + kAlpha * z;
    EXPECT_LE(multiset_distance(eigenvalues(to_eigen(jd.to_dense())), mapped), 1e-10) << "area " << l;
  }
}

TEST(AreaJacobian, RejectsBadMasks) {
  const auto w = at::randn({2, 2, 3, 3}, at::kDouble);
  EXPECT_THROW(AreaJacobian(w, 4, 4, at::ones({2, 4, 5}, at::kDouble), JacobianKind::Discrete), ValueError);
  EXPECT_THROW(AreaJacobian(w, 4, 4, at::full({2, 4, 4}, 0.5, at::kDouble), JacobianKind::Discrete), ValueError);
  EXPECT_THROW(AreaJacobian(w, 4, 4, at::Tensor(), JacobianKind::Discrete, 0.0), ValueError);
  const AreaJacobian all(w, 4, 4, at::Tensor(), JacobianKind::MaskedW);
  EXPECT_DOUBLE_EQ(all.active_fraction(), 1.0);
  EXPECT_TRUE(at::equal(all.to_dense(), linalg::ConvOperator(w, 4, 4).to_dense()));
}

TEST(NetworkJacobian, EqualsTheAutogradJacobianAndIsBlockLowerTriangular) {
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto p = d4_point(net);
  const NetworkJacobian jac(net, p.r, p.inp, kAlpha);
  ASSERT_EQ(jac.size(), 512);
  const auto dense = jac.to_dense();
  const auto ref = autograd_network_jacobian(net, p.r, p.inp);
  EXPECT_LE(rel_max(dense, ref), 1e-12);
  // Transpose: dense and by inner products.
  EXPECT_LE(rel_max(jac.apply_transpose(at::eye(jac.size(), at::kDouble)), dense), 1e-12);
  // Zero blocks: area l depends on areas l, l-1, l-2 only.
  for (std::int64_t l = 0; l < 4; ++l)
    for (std::int64_t m = 0; m < 4; ++m) {
      const auto blk = dense.narrow(0, jac.offset(l), net.area_n(l)).narrow(1, jac.offset(m), net.area_n(m));
      const bool zero = blk.abs().max().item<double>() == 0.0;
      EXPECT_EQ(zero, m > l || m < l - 2) << "block " << l << "," << m;
    }
  // Diagonal blocks are the areas' Discrete Jacobians.
  for (std::int64_t l = 0; l < 4; ++l) {
    const auto blk = dense.narrow(0, jac.offset(l), net.area_n(l)).narrow(1, jac.offset(l), net.area_n(l));
    EXPECT_LE(rel_max(jac.diagonal_block(l)->to_dense(), blk), 1e-14) << l;
  }
}

TEST(NetworkJacobian, SpectrumIsTheUnionOfTheAreaSpectra) {
  // A point where every unit is active (biases raised by 20, a small positive state, so D_l = M_l = I): the
  // per-area spectra are those of (1-a) I + a W_l, simple eigenvalues, and the union must match to 1e-9.
  auto ckpt = load_checkpoint(fixture("cordsnet_d4_param_module.pth"));
  for (int l = 0; l < 4; ++l) {
    auto& b = ckpt.tensors[fmt::format("conv_bias.{}", l)];
    b = b + 20.0f;
  }
  const CordsNet net(ckpt);
  const auto inp = net.input_drive(dyn().get("d4/image").narrow(0, 0, 1));
  at::manual_seed(5);
  auto r = net.zero_state(1);
  for (auto& t : r) t = 0.05 * (at::rand_like(t) + 0.1);
  const NetworkJacobian jac(net, r, inp, kAlpha);
  std::vector<std::complex<double>> blocks;
  for (std::int64_t l = 0; l < 4; ++l) {
    ASSERT_EQ(jac.preactivation_mask(l).min().item<double>(), 1.0) << "area " << l << " not all active";
    ASSERT_GT(r[l].min().item<double>(), 0.0);
    const auto ev = eigenvalues(to_eigen(jac.diagonal_block(l)->to_dense()));
    blocks.insert(blocks.end(), ev.begin(), ev.end());
  }
  const auto whole = eigenvalues(to_eigen(jac.to_dense()));
  EXPECT_LE(multiset_distance(whole, blocks), 1e-9);
  // (the autograd matrix equals jac's to 1e-12: EqualsTheAutogradJacobianAndIsBlockLowerTriangular)
  EXPECT_LE(rel_max(jac.to_dense(), autograd_network_jacobian(net, r, inp)), 1e-12);
}

TEST(NetworkJacobian, SpectrumAtAMaskedStateAwayFromTheMaskedCluster) {
  // With relu masks, eigenvalue 1 - a has a large multiplicity in every area and the off-diagonal blocks
  // make it defective in the whole matrix (a Jordan structure across areas), so a dense solver only
  // resolves it to ~sqrt(eps). Elsewhere the union of the area spectra matches to 1e-9.
  const CordsNet net(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  const auto p = d4_point(net);
  const NetworkJacobian jac(net, p.r, p.inp, kAlpha);
  std::vector<std::complex<double>> blocks;
  for (std::int64_t l = 0; l < 4; ++l) {
    const auto ev = eigenvalues(to_eigen(jac.diagonal_block(l)->to_dense()));
    blocks.insert(blocks.end(), ev.begin(), ev.end());
  }
  const auto whole = eigenvalues(to_eigen(jac.to_dense()));
  const auto split = [](const std::vector<std::complex<double>>& v, std::vector<std::complex<double>>& far) {
    std::size_t near = 0;
    for (const auto& z : v) {
      if (std::abs(z - (1.0 - kAlpha)) < 1e-5) ++near;
      else far.push_back(z);
    }
    return near;
  };
  std::vector<std::complex<double>> far_whole, far_blocks;
  EXPECT_EQ(split(whole, far_whole), split(blocks, far_blocks));
  EXPECT_GT(far_whole.size(), 100u);
  EXPECT_LE(multiset_distance(far_whole, far_blocks), 1e-9);
}
