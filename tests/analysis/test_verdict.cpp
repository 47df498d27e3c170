// How verdicts of parts make the verdict of a whole.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <string>
#include <vector>

#include "analysis/detail/eigs.hpp"
#include "analysis/verdict.hpp"
#include "linalg/support.hpp"

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

TEST(CompareWithOne, TheBoundDecides) {
  using convdyn::analysis::compare_with_one;
  EXPECT_EQ(compare_with_one(0.9, 0.01), Verdict::Stable);
  EXPECT_EQ(compare_with_one(0.9, 0.0), Verdict::Stable);
  EXPECT_EQ(compare_with_one(1.0 - 3e-9, 2e-8), Verdict::Undecided);  // the margin is within the bound
  EXPECT_EQ(compare_with_one(1.0 + 3e-9, 2e-8), Verdict::Undecided);
  EXPECT_EQ(compare_with_one(1.1, 0.05), Verdict::Unstable);
  EXPECT_EQ(compare_with_one(1.0, 0.0), Verdict::Unstable);
  EXPECT_EQ(compare_with_one(0.5, INFINITY), Verdict::Undecided);  // no bound known
  EXPECT_EQ(compare_with_one(0.5, NAN), Verdict::Undecided);
}

// An operator whose rightmost eigenvalue 1 - 1e-12 is ill-conditioned (kappa ~ 2e4): converged with a residual
// at rounding level, yet its margin is far inside the error bound, so the verdict is UNDECIDED; the same
// eigenvalue on a normal operator (kappa = 1) is STABLE.
TEST(CompareWithOne, IllConditionedMarginIsUndecided) {
  for (const double t : {1e4, 0.0}) {
    auto A = at::zeros({30, 30}, at::kDouble);
    A[0][0] = 1.0 - 1e-12;
    A[0][1] = t;
    A[1][1] = 0.5;
    for (int i = 2; i < 30; ++i) A[i][i] = -0.5 + 0.03 * i;
    at::manual_seed(4);
    const auto Q = std::get<0>(at::linalg_qr(at::randn({30, 30}, at::kDouble)));
    const convdyn::tests::DenseMatrixOperator op(at::mm(at::mm(Q, A), Q.t()), at::kDouble, /*transpose=*/true);
    convdyn::linalg::EigOptions eo;
    eo.k = 4;
    eo.which = convdyn::linalg::Which::LR;
    eo.tol = 1e-10;
    const auto r = convdyn::analysis::detail::solve_eigs_with_condition(op, eo);
    ASSERT_TRUE(r.all_converged());
    EXPECT_EQ(r.vectors.size(), 0) << "vectors were not asked for";
    const double bound = convdyn::analysis::detail::bound_at_max_real(r);
    const double abscissa = convdyn::analysis::detail::max_real(r);
    if (t > 0) {
      EXPECT_GT(bound, 1e-12) << "kappa " << r.condition(0);
      // (the computed value itself may land on either side of 1: its error is of the size of the bound)
      EXPECT_EQ(compare_with_one(abscissa, bound), Verdict::Undecided);
    } else {
      EXPECT_NEAR(r.condition(0), 1.0, 1e-6);
      EXPECT_EQ(compare_with_one(abscissa, bound), Verdict::Stable);
    }
  }
}
