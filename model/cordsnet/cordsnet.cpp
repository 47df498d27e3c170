#include "model/cordsnet/cordsnet.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"
#include "model/cordsnet/detect.hpp"

namespace convdyn::model {

namespace {

std::int64_t half_up(std::int64_t n) { return (n + 1) / 2; }
/// inp_conv (7x7, s2, p3) then avgpool (3x3, s2, p1): each gives ceil(n / 2).
std::int64_t drive_size(std::int64_t n) { return half_up(half_up(n)); }

at::Tensor required_weight(const Checkpoint& ckpt, const std::string& module) {
  auto w = resolve_weight(ckpt, module);
  CONVDYN_CHECK(w.has_value(), ValueError, "{}: CordsNet module '{}' has no weight", ckpt.path, module);
  check_finite(ckpt, module + ".weight", w->weight);
  return w->weight;
}

void check_shape(const Checkpoint& ckpt, const std::string& module, const at::Tensor& w,
                 std::vector<std::int64_t> expected) {
  CONVDYN_CHECK(w.sizes() == at::IntArrayRef(expected), ValueError, "{}: '{}' has shape [{}], expected [{}]",
                ckpt.path, module, fmt::join(w.sizes(), ", "), fmt::join(expected, ", "));
}

}  // namespace

CordsNet::CordsNet(const Checkpoint& ckpt, c10::ScalarType dtype, c10::Device device)
    : path_(ckpt.path), dtype_(dtype), device_(device) {
  CONVDYN_CHECK(dtype == at::kDouble || dtype == at::kFloat, ValueError,
                "{}: CordsNet dtype must be float64 or float32, got {}", ckpt.path, c10::toString(dtype));
  auto net = detect_cordsnet(ckpt);
  CONVDYN_CHECK(net.has_value() && !net->layers.empty(), ValueError,
                "{}: not a CordsNet checkpoint (no 'conv_bias.0')", ckpt.path);
  const auto cv = [&](const at::Tensor& t) { return t.to(device, dtype).contiguous(); };
  const std::int64_t depth = static_cast<std::int64_t>(net->layers.size());

  inp_conv_ = required_weight(ckpt, "inp_conv");
  CONVDYN_CHECK(inp_conv_.dim() == 4 && inp_conv_.size(2) == 7 && inp_conv_.size(3) == 7, ValueError,
                "{}: 'inp_conv' has shape [{}], expected [C_in0, image channels, 7, 7]", ckpt.path,
                fmt::join(inp_conv_.sizes(), ", "));
  drive_channels_ = inp_conv_.size(0);
  input_channels_ = inp_conv_.size(1);
  inp_conv_ = cv(inp_conv_);

  for (std::int64_t l = 0; l < depth; ++l) {
    const auto& layer = net->layers[static_cast<std::size_t>(l)];
    channels_.push_back(layer.channels);
    heights_.push_back(layer.height);
    widths_.push_back(layer.width);
    recurrent64_.push_back(layer.weight);
    area_conv_.push_back(cv(layer.weight));
    bias_.push_back(cv(ckpt.get(fmt::format("conv_bias.{}", l)).to(at::kDouble)));
  }

  for (std::int64_t l = 0; l < depth; ++l) {
    const std::string mod = fmt::format("area_area.{}", l);
    const std::int64_t cin = l == 0 ? drive_channels_ : channels_[l - 1];
    auto w = required_weight(ckpt, mod);
    check_shape(ckpt, mod, w, {channels_[l], cin, 3, 3});
    area_area_.push_back(cv(w));
    if (l == 0) {
      strides_.push_back(1);  // area 0 has the input drive's size (checked per image)
      continue;
    }
    const std::int64_t sh = heights_[l - 1], sw = widths_[l - 1];
    if (heights_[l] == sh && widths_[l] == sw) {
      strides_.push_back(1);
    } else if (heights_[l] == half_up(sh) && widths_[l] == half_up(sw)) {
      strides_.push_back(2);
    } else {
      throw ValueError(fmt::format(
          "{}: area {} is {}x{} but its input (area {}) is {}x{}: neither stride 1 ({}x{}) nor stride 2 ({}x{})",
          ckpt.path, l, heights_[l], widths_[l], l - 1, sh, sw, sh, sw, half_up(sh), half_up(sw)));
    }
    if (l >= 2 && l % 2 == 0) {
      CONVDYN_CHECK(channels_[l - 1] == channels_[l - 2] && heights_[l - 1] == heights_[l - 2] &&
                        widths_[l - 1] == widths_[l - 2],
                    ValueError, "{}: area {} sums areas {} ({}x{}x{}) and {} ({}x{}x{}), which differ in shape",
                    ckpt.path, l, l - 1, channels_[l - 1], heights_[l - 1], widths_[l - 1], l - 2,
                    channels_[l - 2], heights_[l - 2], widths_[l - 2]);
    }
    if (l >= 3 && l % 2 == 1) {
      const std::string smod = fmt::format("skip_area.{}", (l - 3) / 2);
      auto s = required_weight(ckpt, smod);
      check_shape(ckpt, smod, s, {channels_[l - 1], channels_[l - 2], 1, 1});
      CONVDYN_CHECK(half_up(heights_[l - 2]) == heights_[l - 1] && half_up(widths_[l - 2]) == widths_[l - 1],
                    ValueError, "{}: '{}' (stride 2) maps area {} ({}x{}) to {}x{}, but area {} is {}x{}",
                    ckpt.path, smod, l - 2, heights_[l - 2], widths_[l - 2], half_up(heights_[l - 2]),
                    half_up(widths_[l - 2]), l - 1, heights_[l - 1], widths_[l - 1]);
      skip_area_.push_back(cv(s));
    }
  }
  if (depth >= 2) {
    auto w = required_weight(ckpt, "inp_skip");
    check_shape(ckpt, "inp_skip", w, {channels_[0], drive_channels_, 3, 3});
    inp_skip_ = cv(w);
  }

  if (auto fc = resolve_weight(ckpt, "out_fc")) {
    const std::int64_t c_last = channels_.back();
    CONVDYN_CHECK(fc->weight.dim() == 2 && fc->weight.size(1) == c_last, ValueError,
                  "{}: 'out_fc' has shape [{}], expected [classes, {}]", ckpt.path,
                  fmt::join(fc->weight.sizes(), ", "), c_last);
    if (depth >= 2)
      CONVDYN_CHECK(channels_[depth - 2] == c_last && heights_[depth - 2] == heights_[depth - 1] &&
                        widths_[depth - 2] == widths_[depth - 1],
                    ValueError, "{}: the readout sums the last two areas, but they differ in shape", ckpt.path);
    check_finite(ckpt, "out_fc.weight", fc->weight);
    fc_weight_ = cv(fc->weight);
    if (ckpt.has("out_fc.bias")) {
      const auto& b = ckpt.get("out_fc.bias");
      check_shape(ckpt, "out_fc.bias", b, {fc->weight.size(0)});
      check_finite(ckpt, "out_fc.bias", b);
      fc_bias_ = cv(b.to(at::kDouble));
    }
  }
}

std::int64_t CordsNet::area_n(std::int64_t l) const {
  check_area(l);
  return channels_[l] * heights_[l] * widths_[l];
}

std::int64_t CordsNet::total_n() const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < depth(); ++l) n += area_n(l);
  return n;
}

void CordsNet::check_area(std::int64_t l) const {
  CONVDYN_CHECK(l >= 0 && l < depth(), ValueError, "{}: area {} out of range [0, {})", path_, l, depth());
}

void CordsNet::check_image(at::IntArrayRef shape) const {
  CONVDYN_CHECK(shape.size() == 4 || shape.size() == 3, ValueError,
                "{}: image must be [B, C, H, W] or [C, H, W], got [{}]", path_, fmt::join(shape, ", "));
  const std::size_t o = shape.size() - 3;
  CONVDYN_CHECK(shape[o] == input_channels_, ValueError, "{}: image has {} channels but inp_conv takes {}", path_,
                shape[o], input_channels_);
  const std::int64_t h = shape[o + 1], w = shape[o + 2];
  CONVDYN_CHECK(h > 0 && w > 0, ValueError, "{}: image of {}x{} is empty", path_, h, w);
  CONVDYN_CHECK(drive_size(h) == heights_[0] && drive_size(w) == widths_[0], ValueError,
                "{}: image of {}x{} gives an input drive of {}x{} but area 0 is {}x{} (images that fit: "
                "{}..{} x {}..{})",
                path_, h, w, drive_size(h), drive_size(w), heights_[0], widths_[0], 4 * heights_[0] - 3,
                4 * heights_[0], 4 * widths_[0] - 3, 4 * widths_[0]);
}

at::Tensor CordsNet::input_drive(const at::Tensor& image) const {
  CONVDYN_CHECK(image.defined(), ValueError, "{}: input_drive: undefined image", path_);
  check_image(image.sizes());
  auto img = image.dim() == 3 ? image.unsqueeze(0) : image;
  img = img.to(device_, dtype_);
  auto x = at::conv2d(img, inp_conv_, {}, at::IntArrayRef{2}, at::IntArrayRef{3});
  return at::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, /*ceil_mode=*/false, /*count_include_pad=*/true);
}

std::vector<at::Tensor> CordsNet::zero_state(std::int64_t batch) const {
  CONVDYN_CHECK(batch > 0, ValueError, "{}: batch size {} must be positive", path_, batch);
  std::vector<at::Tensor> r;
  for (std::int64_t l = 0; l < depth(); ++l)
    r.push_back(at::zeros({batch, channels_[l], heights_[l], widths_[l]},
                          at::TensorOptions().dtype(dtype_).device(device_)));
  return r;
}

void CordsNet::check_states(const std::vector<at::Tensor>& r) const {
  CONVDYN_CHECK(static_cast<std::int64_t>(r.size()) == depth(), ValueError,
                "{}: {} state tensors given for a depth-{} CordsNet", path_, r.size(), depth());
  for (std::int64_t l = 0; l < depth(); ++l) {
    const auto& t = r[static_cast<std::size_t>(l)];
    CONVDYN_CHECK(t.defined() && t.dim() == 4 && t.size(0) == r[0].size(0) && t.size(1) == channels_[l] &&
                      t.size(2) == heights_[l] && t.size(3) == widths_[l],
                  ValueError, "{}: state of area {} must be [B, {}, {}, {}], got [{}]", path_, l, channels_[l],
                  heights_[l], widths_[l], t.defined() ? fmt::format("{}", fmt::join(t.sizes(), ", ")) : "");
    CONVDYN_CHECK(t.scalar_type() == dtype_ && t.device() == device_, ValueError,
                  "{}: state of area {} is {} on {}, the network runs {} on {}", path_, l,
                  c10::toString(t.scalar_type()), t.device().str(), c10::toString(dtype_), device_.str());
  }
}

at::Tensor CordsNet::area_input(std::int64_t l, const std::vector<at::Tensor>& r, const at::Tensor& inp) const {
  check_area(l);
  if (l == 0) return inp;
  if (l == 1) {
    auto x = at::relu(r[0]);
    if (inp.defined()) x = x + at::conv2d(inp, inp_skip_, {}, at::IntArrayRef{1}, at::IntArrayRef{1});
    return x;
  }
  if (l % 2 == 0) return at::relu(r[l - 1]) + at::relu(r[l - 2]);
  return at::relu(r[l - 1]) + at::conv2d(at::relu(r[l - 2]), skip_area_[(l - 3) / 2], {}, at::IntArrayRef{2});
}

at::Tensor CordsNet::preactivation(std::int64_t l, const std::vector<at::Tensor>& r, const at::Tensor& inp) const {
  check_area(l);
  const auto& rl = r[static_cast<std::size_t>(l)];
  const std::int64_t p = area_conv_[l].size(2) / 2;
  auto u = at::conv2d(rl, area_conv_[l], {}, at::IntArrayRef{1}, at::IntArrayRef{p}) + bias_[l];
  auto x = area_input(l, r, inp);
  if (x.defined())
    u = u + at::conv2d(x, area_area_[l], {}, at::IntArrayRef{strides_[l]}, at::IntArrayRef{1});
  return u;
}

std::vector<at::Tensor> CordsNet::preactivations(const std::vector<at::Tensor>& r, const at::Tensor& inp) const {
  check_states(r);
  std::vector<at::Tensor> u;
  for (std::int64_t l = 0; l < depth(); ++l) u.push_back(preactivation(l, r, inp));
  return u;
}

void CordsNet::step(std::vector<at::Tensor>& r, const at::Tensor& inp, double alpha) const {
  check_states(r);
  if (inp.defined())
    CONVDYN_CHECK(inp.dim() == 4 && inp.size(0) == r[0].size(0) && inp.size(1) == drive_channels_ &&
                      inp.size(2) == heights_[0] && inp.size(3) == widths_[0],
                  ValueError, "{}: input drive must be [{}, {}, {}, {}], got [{}]", path_, r[0].size(0),
                  drive_channels_, heights_[0], widths_[0], fmt::join(inp.sizes(), ", "));
  for (std::int64_t l = depth() - 1; l >= 0; --l) {
    auto u = preactivation(l, r, inp);
    auto& rl = r[static_cast<std::size_t>(l)];
    rl = rl * (1.0 - alpha) + at::relu(u) * alpha;
  }
}

CordsNet::ImageDrive CordsNet::image_drive(const at::Tensor& inp) const {
  if (!inp.defined()) return {};
  CONVDYN_CHECK(inp.dim() == 4 && inp.size(1) == drive_channels_ && inp.size(2) == heights_[0] &&
                    inp.size(3) == widths_[0],
                ValueError, "{}: input drive must be [B, {}, {}, {}], got [{}]", path_, drive_channels_, heights_[0],
                widths_[0], fmt::join(inp.sizes(), ", "));
  ImageDrive d;
  d.area0 = at::conv2d(inp, area_area_[0], {}, at::IntArrayRef{strides_[0]}, at::IntArrayRef{1});
  if (depth() > 1) d.skip = at::conv2d(inp, inp_skip_, {}, at::IntArrayRef{1}, at::IntArrayRef{1});
  return d;
}

void CordsNet::step(std::vector<at::Tensor>& r, const ImageDrive& d, double alpha) const {
  check_states(r);
  for (std::int64_t l = depth() - 1; l >= 0; --l) {
    const auto& rl = r[static_cast<std::size_t>(l)];
    const std::int64_t p = area_conv_[l].size(2) / 2;
    auto u = at::conv2d(rl, area_conv_[l], {}, at::IntArrayRef{1}, at::IntArrayRef{p});
    u.add_(bias_[l]);
    if (l == 0) {
      if (d.area0.defined()) u.add_(d.area0);
    } else {
      at::Tensor x;
      if (l == 1) {
        x = at::relu(r[0]);
        if (d.skip.defined()) x.add_(d.skip);
      } else if (l % 2 == 0) {
        x = at::relu(r[l - 1]).add_(at::relu(r[l - 2]));
      } else {
        x = at::relu(r[l - 1]).add_(at::conv2d(at::relu(r[l - 2]), skip_area_[(l - 3) / 2], {}, at::IntArrayRef{2}));
      }
      u.add_(at::conv2d(x, area_area_[l], {}, at::IntArrayRef{strides_[l]}, at::IntArrayRef{1}));
    }
    r[static_cast<std::size_t>(l)] = rl * (1.0 - alpha) + at::relu_(u) * alpha;
  }
}

std::vector<at::Tensor> CordsNet::simulate(const at::Tensor& image, int steps_zero, int steps_image,
                                           double alpha) const {
  const auto inp = input_drive(image);
  auto r = zero_state(inp.size(0));
  for (int t = 0; t < steps_zero; ++t) step(r, at::Tensor(), alpha);
  for (int t = 0; t < steps_image; ++t) step(r, inp, alpha);
  return r;
}

at::Tensor CordsNet::logits(const std::vector<at::Tensor>& r) const {
  CONVDYN_CHECK(has_readout(), ValueError, "{}: no 'out_fc' weight: this checkpoint has no readout", path_);
  check_states(r);
  auto feat = at::relu(r.back());
  if (depth() >= 2) feat = feat + at::relu(r[r.size() - 2]);
  return at::linear(feat.mean({2, 3}), fc_weight_, fc_bias_.defined() ? c10::optional<at::Tensor>(fc_bias_)
                                                                      : c10::optional<at::Tensor>());
}

const at::Tensor& CordsNet::recurrent_weight(std::int64_t l) const {
  check_area(l);
  return recurrent64_[l];
}
const at::Tensor& CordsNet::area_conv(std::int64_t l) const {
  check_area(l);
  return area_conv_[l];
}
const at::Tensor& CordsNet::area_area(std::int64_t l) const {
  check_area(l);
  return area_area_[l];
}
const at::Tensor& CordsNet::conv_bias(std::int64_t l) const {
  check_area(l);
  return bias_[l];
}
const at::Tensor& CordsNet::skip_area(std::int64_t i) const {
  CONVDYN_CHECK(i >= 0 && i < static_cast<std::int64_t>(skip_area_.size()), ValueError,
                "{}: skip_area {} out of range [0, {})", path_, i, skip_area_.size());
  return skip_area_[i];
}

}  // namespace convdyn::model
