#include "model/convrnn/network.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>

#include "linalg/error.hpp"

namespace convdyn::model {

namespace {

std::int64_t ceil_half(std::int64_t n) { return (n + 1) / 2; }

/// TF 'SAME' conv at `stride`: pads floor(total/2) before, the rest after (total = max((out-1) s + k - n, 0)).
at::Tensor same_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, std::int64_t stride) {
  auto pads = [&](std::int64_t n, std::int64_t k) {
    const std::int64_t out = (n + stride - 1) / stride;
    const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + k - n, 0);
    return std::pair<std::int64_t, std::int64_t>{total / 2, total - total / 2};
  };
  const auto [top, bottom] = pads(x.size(2), w.size(2));
  const auto [left, right] = pads(x.size(3), w.size(3));
  at::Tensor xp = x;
  if (top || bottom || left || right) xp = at::constant_pad_nd(x, {left, right, top, bottom}, 0.0);
  return at::conv2d(xp, w, b, at::IntArrayRef{stride});
}

/// 2x2 max-pool, stride 2, TF 'SAME': ceil(n/2); an odd last row/column pools over what is there.
at::Tensor pool2(const at::Tensor& x) {
  const std::int64_t ph = 2 * ceil_half(x.size(2)) - x.size(2), pw = 2 * ceil_half(x.size(3)) - x.size(3);
  at::Tensor xp = x;
  if (ph || pw) xp = at::constant_pad_nd(x, {0, pw, 0, ph}, -std::numeric_limits<double>::infinity());
  return at::max_pool2d(xp, {2, 2}, {2, 2});
}

}  // namespace

void check_whole_network(const Checkpoint& ckpt) {
  const auto layers = convrnn_layer_variables(ckpt);
  const long last = layers.count("conv10") ? 10 : 5;
  for (long l = 1; l <= last; ++l)
    CONVDYN_CHECK(layers.count("conv" + std::to_string(l)), ValueError,
                  "{}: no variables of layer conv{}: the whole network (conv1 .. conv{} and imnetds) is needed to run "
                  "it", ckpt.path, l, last);
  CONVDYN_CHECK(layers.count("imnetds"), ValueError,
                "{}: no imnetds layer (the readout): the whole network is needed to run it", ckpt.path);
}

struct ConvRNNNetwork::Layer {
  std::string name;
  at::Tensor pre_w, pre_b;  // OIHW, run dtype
  std::int64_t stride = 1;
  bool pre_elu = false;      // x = elu(pre) (cell layers: the input activation; cell-free layers: always)
  at::Tensor post_w, post_b, res_w;  // intermediate post: elu(post_0(o) + res(u)); res_w undefined = identity
  bool pool = false;
  std::optional<std::size_t> cell;
  CellType type = CellType::TimeDecay;
};

ConvRNNNetwork::ConvRNNNetwork(const Checkpoint& ckpt, const ConvRNNNetworkOptions& opt) : opt_(opt) {
  CONVDYN_CHECK(opt.height >= 1 && opt.width >= 1, ValueError, "{}: image size {}x{} must be positive", ckpt.path,
                opt.height, opt.width);
  auto vars = convrnn_layer_variables(ckpt);
  check_whole_network(ckpt);
  const bool deep = vars.count("conv10") > 0;
  const long last = deep ? 10 : 5;
  const long first_cell = deep ? 4 : 3;
  const std::vector<long> pools = deep ? std::vector<long>{1, 4, 6, 7, 10} : std::vector<long>{1, 2, 3, 4, 5};

  // Geometry (docs/convrnn-network.md §5): harbor = the ff predecessor's output size; conv1 has stride 2.
  std::vector<std::pair<std::int64_t, std::int64_t>> grid(static_cast<std::size_t>(last) + 1), out(grid.size());
  std::int64_t h = opt.height, w = opt.width;
  for (long l = 1; l <= last; ++l) {
    if (l == 1) h = ceil_half(h), w = ceil_half(w);
    grid[l] = {h, w};
    if (std::find(pools.begin(), pools.end(), l) != pools.end()) h = ceil_half(h), w = ceil_half(w);
    out[l] = {h, w};
  }
  ConvRNNOptions mo;
  mo.dtype = opt.dtype;
  mo.device = opt.device;
  for (long l = first_cell; l <= last; ++l) mo.sizes["conv" + std::to_string(l)] = grid[l];
  model_ = load_convrnn(ckpt, mo);
  CONVDYN_CHECK(static_cast<long>(model_.layers.size()) == last - first_cell + 1, ValueError,
                "{}: {} cell layers ({}); the {} network has them in conv{} .. conv{}", ckpt.path, model_.layers.size(),
                fmt::join(model_.layer_names(), ", "), model_.depth, first_cell, last);
  const bool rgc = model_.family.rfind("rgc", 0) == 0;
  const auto topt = at::TensorOptions().dtype(opt.dtype).device(opt.device);
  auto conv_weight = [&](const std::string& layer, const std::string& key) {
    const auto& t = vars.at(layer).at(key);
    CONVDYN_CHECK(t.dim() == 4, ValueError, "{}: tnn_model/{}/{} has shape [{}]; expected [k, k, Cin, Cout]",
                  ckpt.path, layer, key, fmt::join(t.sizes(), ", "));
    return t.permute({3, 2, 0, 1}).contiguous().to(topt);
  };
  auto need = [&](const std::string& layer, const std::string& key) {
    CONVDYN_CHECK(vars.at(layer).count(key), ValueError, "{}: missing variable tnn_model/{}/{}", ckpt.path, layer, key);
    return vars.at(layer).at(key);
  };

  std::int64_t in_c = 3;
  for (long l = 1; l <= last; ++l) {
    const std::string name = "conv" + std::to_string(l);
    auto L = std::make_shared<Layer>();
    L->name = name;
    need(name, "pre_0/weights_basenet");
    need(name, "pre_0/bias");
    L->pre_w = conv_weight(name, "pre_0/weights_basenet");
    L->pre_b = vars[name]["pre_0/bias"].reshape({-1}).to(topt);
    L->stride = l == 1 ? 2 : 1;
    CONVDYN_CHECK(L->pre_w.size(1) == in_c && L->pre_b.size(0) == L->pre_w.size(0), ValueError,
                  "{}: tnn_model/{}/pre_0/weights_basenet takes {} channels, its input has {}", ckpt.path, name,
                  L->pre_w.size(1), in_c);
    L->pool = std::find(pools.begin(), pools.end(), l) != pools.end();
    NetworkNode node;
    node.name = name;
    node.first_step = l;  // the zoo's runner returns conv_l from step l (the image reaches it at l - 1)
    std::int64_t out_c = L->pre_w.size(0);
    if (l >= first_cell) {
      const auto& cl = model_.layer(name);
      L->cell = static_cast<std::size_t>(l - first_cell);
      L->type = cl.type;
      L->pre_elu = deep || rgc;  // shallow non-rgc cells take the pre conv's output as is
      CONVDYN_CHECK(cl.cell.input_channels() == out_c, ValueError,
                    "{}: layer {}: the cell takes {} input channels, the pre conv gives {}", ckpt.path, name,
                    cl.cell.input_channels(), out_c);
      out_c = cl.cell.channels();
      node.cell = L->cell;
    } else {
      L->pre_elu = true;
      if (auto m = vars[name].find("memory_decay"); m != vars[name].end())
        CONVDYN_CHECK(m->second.abs().max().item<double>() == 0.0, ValueError,
                      "{}: tnn_model/{}/memory_decay is {} (a layer without a cell has m = 0 in the zoo)", ckpt.path,
                      name, m->second.reshape({-1})[0].item<double>());
    }
    if (vars[name].count("post_0/weights")) {
      L->post_w = conv_weight(name, "post_0/weights");
      L->post_b = need(name, "post_0/bias").reshape({-1}).to(topt);
      CONVDYN_CHECK(L->post_w.size(1) == out_c, ValueError, "{}: tnn_model/{}/post_0/weights takes {} channels, not {}",
                    ckpt.path, name, L->post_w.size(1), out_c);
      out_c = L->post_w.size(0);
      if (vars[name].count("post_1/residual_add_weights")) {
        L->res_w = conv_weight(name, "post_1/residual_add_weights");
        CONVDYN_CHECK(L->res_w.size(1) == in_c && L->res_w.size(0) == out_c, ValueError,
                      "{}: tnn_model/{}/post_1/residual_add_weights must be [1, 1, {}, {}]", ckpt.path, name, in_c, out_c);
      } else {
        CONVDYN_CHECK(in_c == out_c, ValueError,
                      "{}: layer {}: the residual adds a {}-channel input to {} channels without "
                      "post_1/residual_add_weights",
                      ckpt.path, name, in_c, out_c);
      }
    }
    node.channels = out_c;
    std::tie(node.height, node.width) = out[l];
    if (rgc && deep && l >= first_cell) {
      // Feedback senders (docs/convrnn-network.md §1): receivers hold feedback_to_out_weights.
      static const std::map<std::string, std::vector<std::string>> kEdges = {
          {"conv5", {"conv8"}}, {"conv6", {"conv7", "conv9"}}, {"conv7", {"conv10"}}, {"conv9", {"conv10"}}};
      const auto& cell = model_.layer(name).cell;
      if (cell.feedback_channels() > 0) {
        auto e = kEdges.find(name);
        CONVDYN_CHECK(e != kEdges.end(), ValueError,
                      "{}: layer {} has feedback_to_out_weights but no feedback edge ends there (edges end at conv5, "
                      "conv6, conv7, conv9)", ckpt.path, name);
        node.feedback = e->second;
        feedback_ = true;
      }
    }
    in_c = out_c;
    nodes_.push_back(node);
    layers_.push_back(L);
  }
  // Feedback channel counts, now that every output is known.
  for (auto& n : nodes_) {
    if (n.feedback.empty()) continue;
    std::int64_t c = 0;
    for (const auto& s : n.feedback) c += node(s).channels;
    const auto& cell = model_.layer(n.name).cell;
    CONVDYN_CHECK(c == cell.feedback_channels(), ValueError,
                  "{}: layer {}: feedback_to_out_weights takes {} channels, its senders ({}) give {}", ckpt.path,
                  n.name, cell.feedback_channels(), fmt::join(n.feedback, ", "), c);
  }
  // Readout.
  NetworkNode ro;
  ro.name = "imnetds";
  ro.first_step = last + 1;
  const auto& iv = vars["imnetds"];
  if (iv.count("pre_1/weights")) {  // shallow: 2x2 VALID conv + bias, then the spatial mean
    fc_conv_ = true;
    fc_w_ = conv_weight("imnetds", "pre_1/weights");
    fc_b_ = need("imnetds", "pre_1/bias").reshape({-1}).to(topt);
    if (out[last].first < fc_w_.size(2) || out[last].second < fc_w_.size(3))
      readout_error_ = fmt::format("{}: an image of {}x{} leaves conv{} {}x{}, smaller than the readout's {}x{} VALID "
                                   "conv (the zoo's images are 224x224)", ckpt.path, opt.height, opt.width, last,
                                   out[last].first, out[last].second, fc_w_.size(2), fc_w_.size(3));
  } else {  // intermediate: spatial mean, then fc [C, K]
    const auto& t = need("imnetds", "pre_3/weights");
    CONVDYN_CHECK(t.dim() == 2, ValueError, "{}: tnn_model/imnetds/pre_3/weights must be [C, classes]", ckpt.path);
    fc_w_ = t.t().contiguous().to(topt);
    fc_b_ = need("imnetds", "pre_3/bias").reshape({-1}).to(topt);
  }
  CONVDYN_CHECK(fc_w_.size(1) == in_c && fc_b_.size(0) == fc_w_.size(0), ValueError,
                "{}: the readout takes {} channels, conv{} gives {}", ckpt.path, fc_w_.size(1), last, in_c);
  ro.channels = fc_w_.size(0);
  ro.height = ro.width = 1;
  nodes_.push_back(ro);
  first_cell_ = static_cast<std::size_t>(first_cell - 1);
}

const NetworkNode& ConvRNNNetwork::node(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n.name == name) return n;
  std::vector<std::string> names;
  for (const auto& n : nodes_) names.push_back(n.name);
  throw ValueError(fmt::format("{}: no layer '{}' (layers: {})", model_.path, name, fmt::join(names, ", ")));
}

std::string ConvRNNNetwork::describe() const {
  return fmt::format("ConvRNN zoo network {} ({} layers + imnetds, {} classes{}), image {}x{}", model_.family,
                     nodes_.size() - 1, classes(), feedback_ ? ", feedback edges" : "", opt_.height, opt_.width);
}

ConvRNNNetwork::State ConvRNNNetwork::zero_state(std::int64_t batch) const {
  const auto topt = at::TensorOptions().dtype(opt_.dtype).device(opt_.device);
  State s;
  for (const auto& n : nodes_)
    s.outputs.push_back(n.name == "imnetds" ? at::zeros({batch, n.channels}, topt)
                                            : at::zeros({batch, n.channels, n.height, n.width}, topt));
  for (const auto& l : model_.layers)
    s.cells.push_back(at::zeros({batch, l.cell.state_channels(), l.cell.height(), l.cell.width()}, topt));
  return s;
}

at::Tensor ConvRNNNetwork::pre(std::size_t i, const at::Tensor& in) const {
  const auto& L = *layers_[i];
  auto x = same_conv(in, L.pre_w, L.pre_b, L.stride);
  return L.pre_elu ? at::elu(x) : x;
}

at::Tensor ConvRNNNetwork::feedback_input(std::size_t i, const std::vector<at::Tensor>& outputs) const {
  const auto& n = nodes_[i];
  if (n.feedback.empty()) return {};
  std::vector<at::Tensor> parts;
  const auto& target = nodes_[i - 1];  // the harbor has the ff predecessor's size
  for (const auto& s : n.feedback) {
    const auto k = std::find_if(nodes_.begin(), nodes_.end(), [&](const NetworkNode& x) { return x.name == s; });
    const auto& o = outputs[static_cast<std::size_t>(k - nodes_.begin())];
    parts.push_back(o.size(2) == target.height && o.size(3) == target.width
                        ? o
                        : at::upsample_bilinear2d(o, {target.height, target.width}, /*align_corners=*/true));
  }
  return parts.size() == 1 ? parts[0] : at::cat(parts, 1);
}

at::Tensor ConvRNNNetwork::layer_output(std::size_t i, const at::Tensor& in, const at::Tensor& f, const at::Tensor& s,
                                        at::Tensor* next_state) const {
  const auto& L = *layers_[i];
  at::Tensor o = pre(i, in);
  if (L.cell) {
    const auto& cell = model_.layers[*L.cell].cell;
    CellDrive d;
    if (L.type == CellType::RGCShallow || L.type == CellType::RGCIntermediate) d.u = in;
    if (f.defined()) d.f = f;
    const auto s2 = cell.step(o, s, d);
    // The output is the new state's h part, except intersectionrnn's y (from x and the old state).
    o = L.type == CellType::IntersectionRNN ? cell.output(o, s, d) : s2.narrow(1, cell.cell_channels(), cell.channels());
    if (next_state) *next_state = s2;
  }
  if (L.post_w.defined()) {
    auto y = same_conv(o, L.post_w, L.post_b, 1);
    y = L.res_w.defined() ? y + at::conv2d(in, L.res_w) : y + in;
    o = at::elu(y);
  }
  return L.pool ? pool2(o) : o;
}

void ConvRNNNetwork::check_readout() const {
  CONVDYN_CHECK(readout_error_.empty(), ValueError, "{}", readout_error_);
}

at::Tensor ConvRNNNetwork::imnetds(const at::Tensor& in) const {
  check_readout();
  if (fc_conv_) return at::conv2d(in, fc_w_, fc_b_).mean({2, 3});
  return at::linear(in.mean({2, 3}), fc_w_, fc_b_);
}

ConvRNNNetwork::State ConvRNNNetwork::step(const State& s, const at::Tensor& frame) const {
  CONVDYN_CHECK(frame.dim() == 4 && frame.size(1) == 3 && frame.size(2) == opt_.height && frame.size(3) == opt_.width,
                ValueError, "{}: frame must be [B, 3, {}, {}], got [{}]", model_.path, opt_.height, opt_.width,
                fmt::join(frame.sizes(), ", "));
  State n;
  n.outputs.resize(s.outputs.size());
  n.cells.resize(s.cells.size());
  const auto img = frame.to(opt_.device, opt_.dtype);
  for (std::size_t i = 0; i + 1 < nodes_.size(); ++i) {
    const auto& in = i == 0 ? img : s.outputs[i - 1];
    const auto& L = *layers_[i];
    at::Tensor next;
    n.outputs[i] = layer_output(i, in, feedback_input(i, s.outputs), L.cell ? s.cells[*L.cell] : at::Tensor(), &next);
    if (L.cell) n.cells[*L.cell] = next;
  }
  n.outputs.back() = imnetds(s.outputs[nodes_.size() - 2]);
  return n;
}

std::vector<at::Tensor> ConvRNNNetwork::prefix_outputs(const at::Tensor& image) const {
  std::vector<at::Tensor> out;
  at::Tensor x = image.to(opt_.device, opt_.dtype);
  for (std::size_t i = 0; i < first_cell_; ++i) {
    x = layer_output(i, x, {}, {}, nullptr);
    out.push_back(x);
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> ConvRNNNetwork::state_blocks() const {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> b;
  for (std::size_t i = first_cell_; i + 1 < nodes_.size(); ++i) {
    const auto& c = model_.layers[*layers_[i]->cell].cell;
    b.push_back({nodes_[i].name + "/state", {c.state_channels(), c.height(), c.width()}});
    b.push_back({nodes_[i].name + "/output", {nodes_[i].channels, nodes_[i].height, nodes_[i].width}});
  }
  return b;
}

std::int64_t ConvRNNNetwork::state_size() const {
  std::int64_t n = 0;
  for (const auto& [name, d] : state_blocks()) n += d[0] * d[1] * d[2];
  return n;
}

at::Tensor ConvRNNNetwork::state_map(const at::Tensor& z, const std::vector<at::Tensor>& prefix) const {
  CONVDYN_CHECK(z.dim() == 1 && z.size(0) == state_size(), ValueError, "{}: state of size {}; the network's is {}",
                model_.path, z.numel(), state_size());
  CONVDYN_CHECK(prefix.size() == first_cell_, ValueError, "{}: {} prefix outputs given, {} needed", model_.path,
                prefix.size(), first_cell_);
  // Unpack z into per-node outputs and cell states.
  std::vector<at::Tensor> outputs(nodes_.size()), cells(model_.layers.size());
  for (std::size_t i = 0; i < first_cell_; ++i) outputs[i] = prefix[i];
  std::int64_t at = 0;
  auto take = [&](const std::vector<std::int64_t>& d) {
    const auto n = d[0] * d[1] * d[2];
    auto t = z.narrow(0, at, n).view({1, d[0], d[1], d[2]});
    at += n;
    return t;
  };
  const auto blocks = state_blocks();
  for (std::size_t i = first_cell_, b = 0; i + 1 < nodes_.size(); ++i, b += 2) {
    cells[*layers_[i]->cell] = take(blocks[b].second);
    outputs[i] = take(blocks[b + 1].second);
  }
  std::vector<at::Tensor> parts;
  for (std::size_t i = first_cell_; i + 1 < nodes_.size(); ++i) {
    at::Tensor next;
    const auto o = layer_output(i, outputs[i - 1], feedback_input(i, outputs), cells[*layers_[i]->cell], &next);
    parts.push_back(next.reshape({-1}));
    parts.push_back(o.reshape({-1}));
  }
  return at::cat(parts);
}

at::Tensor ConvRNNNetwork::readout(const at::Tensor& z) const {
  const auto blocks = state_blocks();
  const auto& d = blocks.back().second;
  const auto n = d[0] * d[1] * d[2];
  return imnetds(z.narrow(0, z.size(0) - n, n).view({1, d[0], d[1], d[2]}))[0];
}

Presentation default_presentation(const std::string& depth, const std::string& checkpoint_path) {
  // The zoo's long-unroll models are named "<model>_t22" / "<model>_t30" (their checkpoint folder).
  for (const auto& part : std::filesystem::path(checkpoint_path)) {
    const auto p = part.string();
    auto ends = [&](const char* s) { return p.size() >= 4 && p.compare(p.size() - 4, 4, s) == 0; };
    if (ends("_t30")) return {30, std::nullopt, 0.5};
    if (ends("_t22")) return {22, std::nullopt, 0.5};
  }
  return {depth == "intermediate" ? 17 : 16, 12, 0.5};
}

}  // namespace convdyn::model
