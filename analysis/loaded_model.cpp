#include "analysis/loaded_model.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "linalg/error.hpp"
#include "model/cordsnet/detect.hpp"
#include "model/io/images.hpp"

namespace convdyn::analysis {

at::Tensor read_drive(const std::string& path) {
  if (path.empty()) return {};
  model::InputOptions io;
  io.scale = 1.0;  // values as stored, uint8 included
  auto t = model::read_images(path, io);  // [N, C, H, W]; a 3-D array [Cin, H, W] arrives as [Cin, 1, H, W]
  if (t.size(0) > 1) {
    CONVDYN_CHECK(t.size(1) == 1, ValueError,
                  "{}: a drive is one array [Cin, H, W] or [1, Cin, H, W], not [{}]", path, fmt::join(t.sizes(), ", "));
    t = t.reshape({1, t.size(0), t.size(2), t.size(3)});
  }
  return t;
}

LoadedModel load_model(const std::string& path, const LoadModelOptions& opt) {
  model::LoadOptions lo;
  lo.key = opt.key;
  LoadedModel m;
  m.ckpt = model::load_checkpoint(path, lo);
  if (!opt.size.empty())
    CONVDYN_CHECK(opt.size.size() == 2 && opt.size[0] > 0 && opt.size[1] > 0, ValueError, "--size needs H,W > 0");
  if (model::looks_like_convrnn(m.ckpt)) {
    model::ConvRNNOptions zo;
    if (!opt.size.empty()) zo.size = std::make_pair(opt.size[0], opt.size[1]);
    zo.dtype = opt.cell_dtype;
    m.kind = ModelKind::ConvRNN;
    m.net.path = path;
    if (!opt.zoo_cells) {
      m.net.architecture = "ConvRNN zoo";
      return m;
    }
    m.convrnn = model::load_convrnn(m.ckpt, zo);
    m.net.architecture =
        fmt::format("ConvRNN zoo ({}, {} cell layers)", m.convrnn->family, m.convrnn->layers.size());
    return m;
  }
  if (auto net = model::detect_cordsnet(m.ckpt); net && opt.size.empty()) {
    m.kind = ModelKind::CordsNet;
    m.net = std::move(*net);
    return m;
  }
  m.net.path = path;
  m.net.architecture = "generic kernels";
  if (opt.generic_keys.empty()) return m;
  CONVDYN_CHECK(opt.size.size() == 2, ValueError,
                "{}: not a CordsNet checkpoint; give the grid of kernel '{}' with --size H,W", path,
                opt.generic_keys.front());
  for (const auto& key : opt.generic_keys)
    m.net.layers.push_back(model::kernel_layer(m.ckpt, key, opt.size[0], opt.size[1]));
  return m;
}

}  // namespace convdyn::analysis
