// Recognising a CordsNet checkpoint and its recurrent areas.
#pragma once
#include <optional>

#include "model/io/checkpoint.hpp"
#include "model/recurrent_layers.hpp"

namespace convdyn::model {

/// Recognises a CordsNet state dict of any depth: areas l = 0.. with `area_conv.{l}` weights and
/// `conv_bias.{l}` of shape [C, H, W] (which gives each area's spatial size). Returns nullopt when the
/// checkpoint is not a CordsNet. Throws ValueError (naming file and key) for inconsistent shapes, even
/// or non-square kernels, or NaN/Inf in any tensor of an area.
std::optional<Network> detect_cordsnet(const Checkpoint& ckpt);

}  // namespace convdyn::model
