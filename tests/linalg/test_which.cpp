// Selection rules: names, the key each one maximises, and the order they induce (conjugates adjacent,
// positive imaginary part first, deterministic on ties).
#include <gtest/gtest.h>

#include <complex>
#include <string>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/which.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;

TEST(Which, NamesRoundTripAndUnknownOnesListTheChoices) {
  for (Which w : {Which::LM, Which::LR, Which::SR, Which::SM, Which::LI}) EXPECT_EQ(parse_which(to_string(w)), w);
  try {
    parse_which("lr");
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("LM, LR, SR, SM or LI"), std::string::npos) << e.what();
  }
}

TEST(Which, KeysAreTheDocumentedQuantities) {
  const cd z(-3.0, 4.0);
  EXPECT_DOUBLE_EQ(which_key(z, Which::LM), 5.0);
  EXPECT_DOUBLE_EQ(which_key(z, Which::LR), -3.0);
  EXPECT_DOUBLE_EQ(which_key(z, Which::SR), 3.0);
  EXPECT_DOUBLE_EQ(which_key(z, Which::SM), -5.0);
  EXPECT_DOUBLE_EQ(which_key(z, Which::LI), 4.0);
}

TEST(Which, OrderKeepsConjugatesTogetherPositiveImaginaryFirst) {
  Eigen::VectorXcd v(6);
  v << cd(0.5, -1.0), cd(2.0, 0.0), cd(0.5, 1.0), cd(-2.0, 0.0), cd(1.0, 0.0), cd(0.0, 2.0);
  // LR: 2, 1, 0.5+1i, 0.5-1i, 0+2i, -2.
  const std::vector<Eigen::Index> lr{1, 4, 2, 0, 5, 3};
  EXPECT_EQ(order_by(v, Which::LR), lr);
  // LM: |2| = |-2| = |2i| tie: broken by the real part (2, then 2i, then -2), then the pair, then 1.
  const Eigen::VectorXcd lm = select(v, Which::LM, 0);
  ASSERT_EQ(lm.size(), 6);
  EXPECT_EQ(lm(0), cd(2.0, 0.0));
  EXPECT_EQ(lm(1), cd(0.0, 2.0));
  EXPECT_EQ(lm(2), cd(-2.0, 0.0));
  EXPECT_EQ(lm(3), cd(0.5, 1.0));
  EXPECT_EQ(lm(4), cd(0.5, -1.0));
  // Rounding-level differences between conjugates do not separate them.
  Eigen::VectorXcd w(3);
  w << cd(1.0, -0.3), cd(1.0 + 1e-15, 0.3), cd(0.9, 0.0);
  const auto o = order_by(w, Which::LR);
  EXPECT_EQ(o[0], 1);
  EXPECT_EQ(o[1], 0);
}

TEST(Which, SelectClampsAndZeroMeansAll) {
  Eigen::VectorXcd v(3);
  v << cd(1, 0), cd(3, 0), cd(2, 0);
  EXPECT_EQ(select(v, Which::LR, 0).size(), 3);
  EXPECT_EQ(select(v, Which::LR, 10).size(), 3);
  const auto two = select(v, Which::SR, 2);
  ASSERT_EQ(two.size(), 2);
  EXPECT_EQ(two(0), cd(1, 0));
  EXPECT_EQ(two(1), cd(2, 0));
  EXPECT_EQ(order_by(v, Which::LR), order_by(v, Which::LR));  // deterministic
}
