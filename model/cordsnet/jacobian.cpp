#include "model/cordsnet/jacobian.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"

namespace convdyn::model {

const char* to_string(JacobianKind k) {
  switch (k) {
    case JacobianKind::MaskedW: return "D W";
    case JacobianKind::Continuous: return "-I + D W";
    case JacobianKind::Discrete: return "(1-alpha) I + alpha D W";
  }
  return "?";
}

at::Tensor relu_mask(const at::Tensor& u) {
  CONVDYN_CHECK(u.defined(), ValueError, "relu_mask: undefined tensor");
  return u.gt(0).to(u.scalar_type());
}

// ---------------------------------------------------------------------------------------------------------
// AreaJacobian

namespace {
std::int64_t area_n(const at::Tensor& weight, std::int64_t h, std::int64_t w) {
  CONVDYN_CHECK(weight.defined() && weight.dim() == 4, ValueError, "area jacobian: weight must be (C, C, k, k)");
  return weight.size(0) * h * w;
}
}  // namespace

AreaJacobian::AreaJacobian(const at::Tensor& weight, std::int64_t height, std::int64_t width, const at::Tensor& mask,
                           JacobianKind kind, double alpha, c10::ScalarType dtype, c10::Device device,
                           linalg::ConvBackend backend)
    : LinearOperator(area_n(weight, height, width), dtype, device), kind_(kind), alpha_(alpha) {
  conv_ = std::make_unique<linalg::ConvOperator>(weight, height, width, linalg::Padding::Zero, dtype, device, backend);
  CONVDYN_CHECK(kind != JacobianKind::Discrete || (alpha > 0 && alpha <= 1), ValueError,
                "area jacobian: alpha={} must be in (0, 1]", alpha);
  if (mask.defined()) {
    const auto c = conv_->channels();
    CONVDYN_CHECK(mask.dim() == 3 && mask.size(0) == c && mask.size(1) == height && mask.size(2) == width,
                  ValueError, "area jacobian: mask must be ({}, {}, {}), got ({})", c, height, width,
                  fmt::join(mask.sizes(), ", "));
    auto m = mask.detach().to(at::kDouble);
    CONVDYN_CHECK(m.eq(0).logical_or(m.eq(1)).all().item<bool>(), ValueError,
                  "area jacobian: mask values must be 0 or 1");
    mask_ = m.to(device, dtype).reshape({1, size()}).contiguous();
  }
}

at::Tensor AreaJacobian::mask() const {
  const auto c = conv_->channels(), h = conv_->height(), w = conv_->width();
  if (!mask_.defined()) return at::ones({c, h, w}, at::TensorOptions().dtype(dtype()).device(device()));
  return mask_.view({c, h, w});
}

double AreaJacobian::active_fraction() const {
  return mask_.defined() ? mask_.to(at::kDouble).mean().item<double>() : 1.0;
}

std::string AreaJacobian::describe() const {
  return fmt::format("{} (alpha {}), {} of units active, {}", to_string(kind_), alpha_, active_fraction(),
                     conv_->describe());
}

at::Tensor AreaJacobian::combine(const at::Tensor& x, const at::Tensor& dwx) const {
  switch (kind_) {
    case JacobianKind::MaskedW: return dwx;
    case JacobianKind::Continuous: return dwx - x;
    case JacobianKind::Discrete: return x * (1.0 - alpha_) + dwx * alpha_;
  }
  CONVDYN_ASSERT(false, "unknown jacobian kind");
  return {};
}

at::Tensor AreaJacobian::apply_impl(const at::Tensor& x) const {
  auto wx = conv_->apply(x);
  if (mask_.defined()) wx = wx * mask_;
  return combine(x, wx);
}

at::Tensor AreaJacobian::apply_transpose_impl(const at::Tensor& x) const {
  auto dx = mask_.defined() ? x * mask_ : x;
  return combine(x, conv_->apply_transpose(dx.contiguous()));
}

// ---------------------------------------------------------------------------------------------------------
// NetworkJacobian

namespace {

/// Transpose of conv2d(x, w, stride, padding) back to an input of size (th, tw).
at::Tensor conv_t(const at::Tensor& y, const at::Tensor& w, std::int64_t stride, std::int64_t pad, std::int64_t th,
                  std::int64_t tw) {
  const std::int64_t k = w.size(2);
  const std::int64_t oh = th - ((y.size(2) - 1) * stride - 2 * pad + k);
  const std::int64_t ow = tw - ((y.size(3) - 1) * stride - 2 * pad + k);
  CONVDYN_ASSERT(oh >= 0 && ow >= 0 && oh < std::max<std::int64_t>(stride, 1) && ow < std::max<std::int64_t>(stride, 1),
                 "conv transpose output padding {}x{}", oh, ow);
  return at::conv_transpose2d(y, w, {}, at::IntArrayRef{stride}, at::IntArrayRef{pad},
                              at::IntArrayRef{oh, ow});
}

}  // namespace

NetworkJacobian::NetworkJacobian(const CordsNet& net, const std::vector<at::Tensor>& r, const at::Tensor& inp,
                                 double alpha)
    : LinearOperator(net.total_n(), net.dtype(), net.device()), alpha_(alpha) {
  CONVDYN_CHECK(alpha > 0 && alpha <= 1, ValueError, "network jacobian: alpha={} must be in (0, 1]", alpha);
  CONVDYN_CHECK(!r.empty() && r[0].defined() && r[0].dim() == 4 && r[0].size(0) == 1, ValueError,
                "network jacobian: states must have batch size 1");
  CONVDYN_CHECK(!inp.defined() || (inp.dim() == 4 && inp.size(0) == 1), ValueError,
                "network jacobian: the input drive must have batch size 1");
  const auto u = net.preactivations(r, inp);  // validates the states
  std::int64_t off = 0;
  for (std::int64_t l = 0; l < net.depth(); ++l) {
    shapes_.push_back({net.channels()[l], net.heights()[l], net.widths()[l]});
    offsets_.push_back(off);
    off += net.area_n(l);
    strides_.push_back(net.strides()[l]);
    w_.push_back(net.area_conv(l));
    a_.push_back(net.area_area(l));
    w64_.push_back(net.recurrent_weight(l));
    d_.push_back(relu_mask(u[l][0]).contiguous());
    m_.push_back(relu_mask(r[l][0].detach()).contiguous());
  }
  for (std::int64_t i = 0; 2 * i + 3 < net.depth(); ++i) s_.push_back(net.skip_area(i));
}

std::string NetworkJacobian::describe() const {
  return fmt::format("CordsNet one-step Jacobian (alpha {}), depth {}, n = {}", alpha_, depth(), size());
}

std::unique_ptr<AreaJacobian> NetworkJacobian::diagonal_block(std::int64_t l, JacobianKind kind) const {
  CONVDYN_CHECK(l >= 0 && l < depth(), ValueError, "network jacobian: area {} out of range [0, {})", l, depth());
  const auto& s = shapes_[l];
  return std::make_unique<AreaJacobian>(w64_[l], s.h, s.w, d_[l], kind, alpha_, dtype(), device());
}

at::Tensor NetworkJacobian::apply_impl(const at::Tensor& x) const {
  const std::int64_t k = x.size(0), depth = this->depth();
  std::vector<at::Tensor> dr, out;
  for (std::int64_t l = 0; l < depth; ++l) {
    const auto& s = shapes_[l];
    dr.push_back(x.narrow(1, offsets_[l], s.c * s.h * s.w).reshape({k, s.c, s.h, s.w}));
  }
  for (std::int64_t l = 0; l < depth; ++l) {
    const std::int64_t p = w_[l].size(2) / 2;
    auto t = at::conv2d(dr[l], w_[l], {}, at::IntArrayRef{1}, at::IntArrayRef{p});
    at::Tensor dx;
    if (l == 1) {
      dx = dr[0] * m_[0];
    } else if (l >= 2 && l % 2 == 0) {
      dx = dr[l - 1] * m_[l - 1] + dr[l - 2] * m_[l - 2];
    } else if (l >= 3) {
      dx = dr[l - 1] * m_[l - 1] + at::conv2d(dr[l - 2] * m_[l - 2], s_[(l - 3) / 2], {}, at::IntArrayRef{2});
    }
    if (dx.defined()) t = t + at::conv2d(dx, a_[l], {}, at::IntArrayRef{strides_[l]}, at::IntArrayRef{1});
    out.push_back((dr[l] * (1.0 - alpha_) + (t * d_[l]) * alpha_).reshape({k, -1}));
  }
  return at::cat(out, 1);
}

at::Tensor NetworkJacobian::apply_transpose_impl(const at::Tensor& y) const {
  const std::int64_t k = y.size(0), depth = this->depth();
  std::vector<at::Tensor> yl, out;
  for (std::int64_t l = 0; l < depth; ++l) {
    const auto& s = shapes_[l];
    yl.push_back(y.narrow(1, offsets_[l], s.c * s.h * s.w).reshape({k, s.c, s.h, s.w}));
  }
  for (std::int64_t l = 0; l < depth; ++l) {
    const std::int64_t p = w_[l].size(2) / 2;
    const auto z = yl[l] * d_[l] * alpha_;
    out.push_back(yl[l] * (1.0 - alpha_) + conv_t(z, w_[l], 1, p, shapes_[l].h, shapes_[l].w));
  }
  // Off-diagonal blocks: area l's update reads areas l-1 and l-2 through its input x_l.
  for (std::int64_t l = 1; l < depth; ++l) {
    const auto z = yl[l] * d_[l] * alpha_;
    const auto& src = shapes_[l - 1];  // x_l has the shape of area l-1
    const auto g = conv_t(z, a_[l], strides_[l], 1, src.h, src.w);
    out[l - 1] = out[l - 1] + g * m_[l - 1];
    if (l >= 2 && l % 2 == 0) {
      out[l - 2] = out[l - 2] + g * m_[l - 2];
    } else if (l >= 3) {
      const auto& s2 = shapes_[l - 2];
      out[l - 2] = out[l - 2] + conv_t(g, s_[(l - 3) / 2], 2, 0, s2.h, s2.w) * m_[l - 2];
    }
  }
  for (auto& o : out) o = o.reshape({k, -1});
  return at::cat(out, 1);
}

}  // namespace convdyn::model
