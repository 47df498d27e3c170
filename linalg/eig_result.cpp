#include "linalg/eig_result.hpp"
namespace convdyn::linalg {
const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::Converged: return "converged";
    case StopReason::MaxRestarts: return "max-restarts";
    case StopReason::Breakdown: return "breakdown";
    case StopReason::NotIterative: return "direct";
  }
  return "?";
}
}  // namespace convdyn::linalg
