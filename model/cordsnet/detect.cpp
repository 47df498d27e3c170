#include "model/cordsnet/detect.hpp"

#include <ATen/ATen.h>

#include "linalg/error.hpp"

namespace convdyn::model {

std::optional<Network> detect_cordsnet(const Checkpoint& ckpt) {
  if (!ckpt.has("conv_bias.0")) return std::nullopt;
  Network net;
  net.path = ckpt.path;
  for (int l = 0;; ++l) {
    const std::string bias_key = fmt::format("conv_bias.{}", l), mod = fmt::format("area_conv.{}", l);
    if (!ckpt.has(bias_key)) break;
    const auto& bias = ckpt.get(bias_key);
    CONVDYN_CHECK(bias.dim() == 3, ValueError, "{}: '{}' has shape [{}]; a CordsNet bias is [C, H, W]",
                  ckpt.path, bias_key, fmt::join(bias.sizes(), ", "));
    check_finite(ckpt, bias_key, bias);
    auto w = resolve_weight(ckpt, mod);
    CONVDYN_CHECK(w.has_value(), ValueError, "{}: '{}' exists but there is no weight for '{}'", ckpt.path,
                  bias_key, mod);
    check_recurrent_kernel(ckpt, mod + ".weight", w->weight);
    CONVDYN_CHECK(w->weight.size(0) == bias.size(0), ValueError,
                  "{}: '{}' has {} channels but '{}' has {}", ckpt.path, mod, w->weight.size(0), bias_key,
                  bias.size(0));
    RecurrentLayer layer;
    layer.name = mod;
    layer.weight = w->weight;
    layer.channels = bias.size(0);
    layer.height = bias.size(1);
    layer.width = bias.size(2);
    layer.kernel = w->weight.size(2);
    layer.parametrisation = w->parametrisation;
    net.layers.push_back(std::move(layer));
  }
  net.architecture = fmt::format("CordsNet (depth {})", net.layers.size());
  return net;
}

}  // namespace convdyn::model
