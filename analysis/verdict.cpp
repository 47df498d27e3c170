#include "analysis/verdict.hpp"

#include <cmath>

namespace convdyn::analysis {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::Stable: return "STABLE";
    case Verdict::Unstable: return "UNSTABLE";
    case Verdict::Undecided: return "UNDECIDED";
  }
  return "?";
}

Verdict compare_with_one(double value, double bound) {
  const double b = std::isnan(bound) ? INFINITY : std::max(0.0, bound);
  if (value + b < 1.0) return Verdict::Stable;
  if (value - b >= 1.0) return Verdict::Unstable;
  return Verdict::Undecided;
}

}  // namespace convdyn::analysis
