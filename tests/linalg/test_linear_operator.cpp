// LinearOperator's non-virtual contract: validation of every input, shapes in and out, matvec counting, the
// transpose when absent, and to_dense with its size guard.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "linalg/error.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/scalar_type.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

namespace {
/// Returns a block of the wrong shape: apply must catch the implementation's bug.
class BrokenOperator final : public LinearOperator {
 public:
  BrokenOperator() : LinearOperator(4, at::kDouble, c10::Device(c10::kCPU)) {}
  std::string describe() const override { return "broken"; }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override { return x.narrow(1, 0, 3); }
};
}  // namespace

TEST(LinearOperator, AppliesToVectorsAndBlocksAndCountsMatvecs) {
  at::manual_seed(1);
  const auto A = at::randn({5, 5}, at::kDouble);
  DenseMatrixOperator op(A);
  EXPECT_EQ(op.rows(), 5);
  EXPECT_EQ(op.cols(), 5);
  EXPECT_EQ(op.dtype(), at::kDouble);
  const auto x = at::randn({5}, at::kDouble);
  const auto y = op.apply(x);
  ASSERT_EQ(y.dim(), 1);
  EXPECT_TRUE(at::allclose(y, at::mv(A, x), 1e-14, 1e-14));
  EXPECT_EQ(op.matvecs(), 1);
  const auto X = at::randn({3, 5}, at::kDouble);
  const auto Y = op.apply(X);
  ASSERT_EQ(Y.sizes(), X.sizes());
  EXPECT_TRUE(at::allclose(Y, X.mm(A.t()), 1e-14, 1e-14));
  EXPECT_EQ(op.matvecs(), 4);  // a block of k counts k
  // A non-contiguous block is accepted (made contiguous before apply_impl).
  const auto T = at::randn({5, 3}, at::kDouble).t();
  EXPECT_TRUE(at::allclose(op.apply(T), T.mm(A.t()), 1e-14, 1e-14));
}

TEST(LinearOperator, InvalidInputsAreValueErrorsNamingTheProblem) {
  DenseMatrixOperator op(at::eye(4, at::kDouble));
  auto message = [&](const at::Tensor& x) -> std::string {
    try {
      op.apply(x);
    } catch (const ValueError& e) {
      return e.what();
    }
    return "no exception";
  };
  EXPECT_NE(message(at::Tensor()).find("undefined"), std::string::npos);
  EXPECT_NE(message(at::zeros({1, 1, 4}, at::kDouble)).find("3 dimensions"), std::string::npos);
  EXPECT_NE(message(at::zeros({5}, at::kDouble)).find("length 5 does not match operator size 4"), std::string::npos);
  EXPECT_NE(message(at::zeros({4}, at::kFloat)).find("dtype"), std::string::npos);
  EXPECT_EQ(op.matvecs(), 0) << "a rejected input must not count";
}

TEST(LinearOperator, ConstructorRejectsBadSizesAndDtypes) {
  EXPECT_THROW(DenseMatrixOperator(at::zeros({0, 0}, at::kDouble)), ValueError);
  EXPECT_THROW(DenseMatrixOperator(at::eye(3, at::kDouble), at::kLong), ValueError);
  EXPECT_NO_THROW(DenseMatrixOperator(at::eye(3, at::kDouble), at::kFloat));
}

TEST(LinearOperator, WithoutATransposeSaysSo) {
  DenseMatrixOperator op(at::eye(3, at::kDouble));
  EXPECT_FALSE(op.has_transpose());
  EXPECT_THROW(op.apply_transpose(at::zeros({3}, at::kDouble)), ValueError);
}

TEST(LinearOperator, WronglyShapedImplementationIsAnInternalError) {
  BrokenOperator op;
  EXPECT_THROW(op.apply(at::zeros({2, 4}, at::kDouble)), InternalError);
}

TEST(LinearOperator, ToDenseMaterialisesColumnsAndGuardsTheSize) {
  at::manual_seed(2);
  const auto A = at::randn({7, 7}, at::kDouble);
  DenseMatrixOperator op(A);
  for (std::int64_t block : {1, 3, 7, 64}) EXPECT_TRUE(at::equal(op.to_dense(20000, block), A)) << block;
  try {
    op.to_dense(6);
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("n=7 exceeds the limit 6"), std::string::npos) << e.what();
  }
}

TEST(ScalarType, NamesRoundTripAndOthersAreRefused) {
  EXPECT_EQ(parse_scalar_type("float64"), at::kDouble);
  EXPECT_EQ(parse_scalar_type("float32"), at::kFloat);
  EXPECT_STREQ(scalar_type_name(at::kDouble), "float64");
  EXPECT_STREQ(scalar_type_name(at::kFloat), "float32");
  EXPECT_THROW(parse_scalar_type("double"), ValueError);
  EXPECT_THROW(scalar_type_name(at::kHalf), ValueError);
  EXPECT_EQ(machine_epsilon(at::kDouble), std::numeric_limits<double>::epsilon());
  EXPECT_EQ(machine_epsilon(at::kFloat), static_cast<double>(std::numeric_limits<float>::epsilon()));
}
