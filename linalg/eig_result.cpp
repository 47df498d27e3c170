#include "linalg/eig_result.hpp"

#include <algorithm>
#include <cmath>

namespace convdyn::linalg {
const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::Converged: return "converged";
    case StopReason::MaxRestarts: return "max-restarts";
    case StopReason::Breakdown: return "breakdown";
    case StopReason::NotIterative: return "direct";
    case StopReason::NumericalFailure: return "numerical-failure";
  }
  return "?";
}

void EigResult::flag_converged(double tolerance) {
  tol = tolerance;
  converged.resize(values.size());
  for (Eigen::Index i = 0; i < values.size(); ++i)
    converged(i) = i < residuals.size() && residuals(i) <= tolerance * std::max(1.0, std::abs(values(i)));
}

}  // namespace convdyn::linalg
