#include "apps/bench/models.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <string>

namespace convdyn::apps::bench {

std::vector<Area> r8_areas() {
  return {{64, 56}, {64, 56}, {128, 28}, {128, 28}, {256, 14}, {256, 14}, {512, 7}, {512, 7}};
}

std::vector<Area> release_depth4_areas() { return {{64, 56}, {64, 56}, {128, 28}, {128, 28}}; }

model::Checkpoint synthetic_cordsnet(const std::vector<Area>& areas, std::uint64_t seed, double recurrent_scale) {
  model::Checkpoint ck;
  ck.path = fmt::format("synthetic CordsNet (depth {}, seed {})", areas.size(), seed);
  ck.format = "synthetic";
  ck.sha256 = "synthetic";
  at::manual_seed(seed);
  auto add = [&](const std::string& name, const at::Tensor& t) {
    ck.names.push_back(name);
    ck.tensors[name] = t;
  };
  auto kernel = [](std::int64_t out, std::int64_t in, std::int64_t k, double scale) {
    return at::randn({out, in, k, k}, at::kDouble) * (scale / std::sqrt(double(in * k * k)));
  };
  const std::int64_t c0 = areas.front().channels;
  add("inp_conv.weight", kernel(c0, 3, 7, 0.5));
  add("inp_skip.weight", kernel(areas.front().channels, c0, 3, 0.5));
  for (std::size_t l = 0; l < areas.size(); ++l) {
    const auto [c, hw] = areas[l];
    const std::int64_t cin = l == 0 ? c0 : areas[l - 1].channels;
    add(fmt::format("area_conv.{}.weight", l), kernel(c, c, 3, recurrent_scale));
    add(fmt::format("conv_bias.{}", l), at::randn({c, hw, hw}, at::kDouble) * 0.1);
    add(fmt::format("area_area.{}.weight", l), kernel(c, cin, 3, 0.5));
    if (l >= 3 && l % 2 == 1)
      add(fmt::format("skip_area.{}.weight", (l - 3) / 2), kernel(areas[l - 1].channels, areas[l - 2].channels, 1, 0.5));
  }
  add("out_fc.weight", at::randn({10, areas.back().channels}, at::kDouble) * 0.1);
  add("out_fc.bias", at::zeros({10}, at::kDouble));
  return ck;
}

}  // namespace convdyn::apps::bench
