// What the CordsNet tests share: the independent Python reference's outputs (tests/fixtures/
// cordsnet_reference.py -> dynamics_expected.pth), loaded once.
#pragma once
#include "fixture_path.hpp"
#include "model/io/checkpoint.hpp"

namespace convdyn::tests {

inline const model::Checkpoint& dynamics_expected() {
  static const model::Checkpoint c = model::load_checkpoint(testing::fixture("dynamics_expected.pth"));
  return c;
}

}  // namespace convdyn::tests
