#include "model/recurrent_layers.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"

namespace convdyn::model {

const RecurrentLayer& Network::layer(const std::string& name) const {
  for (const auto& l : layers)
    if (l.name == name || l.name + ".weight" == name) return l;
  throw ValueError(fmt::format("{}: unknown layer '{}'; valid layers: {}", path, name,
                               fmt::join(layer_names(), ", ")));
}

std::vector<std::string> Network::layer_names() const {
  std::vector<std::string> out;
  for (const auto& l : layers) out.push_back(l.name);
  return out;
}

void check_recurrent_kernel(const Checkpoint& ckpt, const std::string& name, const at::Tensor& w) {
  CONVDYN_CHECK(w.dim() == 4, ValueError, "{}: '{}' has shape [{}], not a 4-D conv kernel", ckpt.path, name,
                fmt::join(w.sizes(), ", "));
  CONVDYN_CHECK(w.size(0) == w.size(1), ValueError,
                "{}: '{}' has shape [{}]: not a recurrent kernel (out channels {} != in channels {})", ckpt.path,
                name, fmt::join(w.sizes(), ", "), w.size(0), w.size(1));
  CONVDYN_CHECK(w.size(2) == w.size(3), ValueError, "{}: '{}' has a non-square {}x{} kernel", ckpt.path, name,
                w.size(2), w.size(3));
  CONVDYN_CHECK(w.size(2) % 2 == 1, ValueError,
                "{}: '{}' has an even {}x{} kernel (only odd kernels have a centred 'same' padding)", ckpt.path,
                name, w.size(2), w.size(3));
  check_finite(ckpt, name, w);
}

RecurrentLayer kernel_layer(const Checkpoint& ckpt, const std::string& key, std::int64_t height,
                            std::int64_t width) {
  CONVDYN_CHECK(height > 0 && width > 0, ValueError, "--size {},{}: height and width must be positive", height,
                width);
  RecurrentLayer layer;
  std::optional<ResolvedWeight> w;
  if (ckpt.has(key) && key.size() > 7 && key.compare(key.size() - 7, 7, ".weight") == 0) {
    w = resolve_weight(ckpt, key.substr(0, key.size() - 7));
    layer.name = key.substr(0, key.size() - 7);
  } else if (ckpt.has(key)) {
    const auto& t = ckpt.get(key);
    check_finite(ckpt, key, t);
    w = ResolvedWeight{t.to(at::kDouble).contiguous(), "plain", {key}};
    layer.name = key;
  } else {
    w = resolve_weight(ckpt, key);
    layer.name = key;
  }
  CONVDYN_CHECK(w.has_value(), ValueError, "{}: unknown layer '{}'; 4-D tensors in this checkpoint: {}", ckpt.path,
                key, fmt::join(list_kernels(ckpt), ", "));
  check_recurrent_kernel(ckpt, key, w->weight);
  layer.weight = w->weight;
  layer.channels = w->weight.size(0);
  layer.height = height;
  layer.width = width;
  layer.kernel = w->weight.size(2);
  layer.parametrisation = w->parametrisation;
  return layer;
}

std::vector<std::string> list_kernels(const Checkpoint& ckpt) {
  std::vector<std::string> out;
  for (const auto& name : ckpt.names) {
    const auto& t = ckpt.tensors.at(name);
    if (t.dim() == 4) out.push_back(fmt::format("{} [{}]", name, fmt::join(t.sizes(), ", ")));
  }
  return out;
}

}  // namespace convdyn::model
