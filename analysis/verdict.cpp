#include "analysis/verdict.hpp"

namespace convdyn::analysis {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::Stable: return "STABLE";
    case Verdict::Unstable: return "UNSTABLE";
    case Verdict::Undecided: return "UNDECIDED";
  }
  return "?";
}

}  // namespace convdyn::analysis
