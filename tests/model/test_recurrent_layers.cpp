// The generic path: any square odd kernel of a checkpoint by key, with its checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/recurrent_layers.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

TEST(Network, GenericKernelByKey) {
  auto ckpt = load_checkpoint(fixture("generic_kernels.pth"));
  auto l = kernel_layer(ckpt, "rnn.weight", 6, 7);
  EXPECT_EQ(l.name, "rnn");
  EXPECT_EQ(l.n(), 5 * 6 * 7);
  EXPECT_EQ(kernel_layer(ckpt, "rnn", 6, 7).n(), 5 * 6 * 7);
  EXPECT_EQ(kernel_layer(ckpt, "big.weight", 4, 4).kernel, 5);
  EXPECT_THROW(kernel_layer(ckpt, "nonsquare.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "even.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "rect.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "vector", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "nan.weight", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "missing", 4, 4), ValueError);
  EXPECT_THROW(kernel_layer(ckpt, "rnn.weight", 0, 4), ValueError);
}
