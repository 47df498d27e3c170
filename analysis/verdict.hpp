// The three-valued verdict of a stability analysis and how the verdicts of parts combine.
#pragma once

namespace convdyn::analysis {

enum class Verdict { Stable, Unstable, Undecided };
const char* to_string(Verdict v);
/// Is `value` < 1, for a value known to within `bound` (an eigenvalue's error bound, >= 0; +inf or NaN when
/// unknown)? STABLE when value + bound < 1, UNSTABLE when value - bound >= 1, UNDECIDED when 1 lies within the
/// bound (the margin does not exceed what the value may be off by).
Verdict compare_with_one(double value, double bound);
/// The verdict of a whole made of parts: UNSTABLE if any part is, else UNDECIDED if any is, else STABLE
/// (STABLE for no parts).
template <class Range, class Get>
Verdict combine_verdicts(const Range& parts, Get verdict_of) {
  Verdict v = Verdict::Stable;
  for (const auto& p : parts) {
    const Verdict x = verdict_of(p);
    if (x == Verdict::Unstable) v = Verdict::Unstable;
    else if (x == Verdict::Undecided && v == Verdict::Stable) v = Verdict::Undecided;
  }
  return v;
}

}  // namespace convdyn::analysis
