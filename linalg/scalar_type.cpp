#include "linalg/scalar_type.hpp"

#include <limits>

#include "linalg/error.hpp"

namespace convdyn::linalg {

c10::ScalarType parse_scalar_type(const std::string& s) {
  if (s == "float64") return c10::ScalarType::Double;
  if (s == "float32") return c10::ScalarType::Float;
  throw ValueError(fmt::format("unknown --dtype '{}' (expected float64 or float32)", s));
}

const char* scalar_type_name(c10::ScalarType t) {
  if (t == c10::ScalarType::Double) return "float64";
  if (t == c10::ScalarType::Float) return "float32";
  throw ValueError(fmt::format("dtype {} not supported (float64 or float32)", c10::toString(t)));
}

double machine_epsilon(c10::ScalarType t) {
  return t == c10::ScalarType::Float ? static_cast<double>(std::numeric_limits<float>::epsilon())
                                     : std::numeric_limits<double>::epsilon();
}

}  // namespace convdyn::linalg
