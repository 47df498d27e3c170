// Operator dtypes by name: the two floating-point types convdyn computes in.
#pragma once
#include <c10/core/ScalarType.h>

#include <string>

namespace convdyn::linalg {

/// "float64" -> Double, "float32" -> Float; ValueError naming the valid choices otherwise.
c10::ScalarType parse_scalar_type(const std::string& s);
/// "float64" or "float32" (ValueError for any other type).
const char* scalar_type_name(c10::ScalarType t);
/// The unit roundoff of `t` (float32 or float64).
double machine_epsilon(c10::ScalarType t);

}  // namespace convdyn::linalg
