// How verdicts of parts make the verdict of a whole.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analysis/verdict.hpp"

using namespace convdyn::analysis;

TEST(Verdict, UnstableWinsThenUndecidedAndNoPartsIsStable) {
  auto of = [](const std::vector<Verdict>& v) { return combine_verdicts(v, [](Verdict x) { return x; }); };
  EXPECT_EQ(of({}), Verdict::Stable);
  EXPECT_EQ(of({Verdict::Stable, Verdict::Stable}), Verdict::Stable);
  EXPECT_EQ(of({Verdict::Stable, Verdict::Undecided}), Verdict::Undecided);
  EXPECT_EQ(of({Verdict::Undecided, Verdict::Unstable, Verdict::Stable}), Verdict::Unstable);
  EXPECT_EQ(of({Verdict::Unstable, Verdict::Undecided}), Verdict::Unstable);
  EXPECT_STREQ(to_string(Verdict::Stable), "STABLE");
  EXPECT_STREQ(to_string(Verdict::Unstable), "UNSTABLE");
  EXPECT_STREQ(to_string(Verdict::Undecided), "UNDECIDED");
}
