// Synthetic CordsNet checkpoints of the release's shapes, in memory, for the bench's whole-model and
// stability rows (no file: the shapes are what matters, not trained weights).
#pragma once
#include <cstdint>
#include <vector>

#include "model/io/checkpoint.hpp"

namespace convdyn::apps::bench {

/// One area of a synthetic CordsNet: channels and (square) spatial size.
struct Area {
  std::int64_t channels, size;
};

/// The release's ImageNet model (depth 8, R8): 64/64/128/128/256/256/512/512 channels on 56/56/28/28/14/14/7/7.
std::vector<Area> r8_areas();
/// Its first four areas (64/64/128/128 on 56/56/28/28), the depth-4 model of the stability row.
std::vector<Area> release_depth4_areas();

/// A CordsNet state dict with these areas (plain weights, no weight norm) for 3-channel images of
/// 4 x areas[0].size pixels, deterministic for `seed`: recurrent kernels ~ `recurrent_scale` * randn / sqrt(9 C)
/// (1 gives a spectral radius ~1, as the bench operators), input and skip kernels ~ 0.5 randn / sqrt(fan-in),
/// biases ~ 0.1 randn, a 10-class readout.
model::Checkpoint synthetic_cordsnet(const std::vector<Area>& areas, std::uint64_t seed, double recurrent_scale);

}  // namespace convdyn::apps::bench
