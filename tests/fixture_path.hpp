// Paths of the committed test fixtures (tests/fixtures, see its README).
#pragma once
#include <string>

namespace convdyn::testing {
inline std::string fixture(const std::string& name) { return std::string(CONVDYN_FIXTURES) + "/" + name; }
}  // namespace convdyn::testing
