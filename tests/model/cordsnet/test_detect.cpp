// Recognising a CordsNet of any depth, its areas by name, and bad weights named with the file and tensor.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/cordsnet/detect.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

TEST(Network, DetectsCordsNetOfAnyDepth) {
  auto d4 = detect_cordsnet(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  ASSERT_TRUE(d4.has_value());
  ASSERT_EQ(d4->layers.size(), 4u);
  const auto& l2 = d4->layer("area_conv.2");
  EXPECT_EQ(l2.channels, 4);
  EXPECT_EQ(l2.height, 4);
  EXPECT_EQ(l2.width, 4);
  EXPECT_EQ(l2.kernel, 3);
  EXPECT_EQ(l2.n(), 64);
  EXPECT_EQ(&d4->layer("area_conv.2.weight"), &l2);
  auto d2 = detect_cordsnet(load_checkpoint(fixture("cordsnet_d2_plain.pth")));
  ASSERT_TRUE(d2.has_value());
  EXPECT_EQ(d2->layers.size(), 2u);
  EXPECT_EQ(d2->layers[1].parametrisation, "plain");
  EXPECT_FALSE(detect_cordsnet(load_checkpoint(fixture("generic_kernels.pth"))).has_value());
}

TEST(Network, UnknownLayerListsTheValidOnes) {
  auto net = detect_cordsnet(load_checkpoint(fixture("cordsnet_d4_param_module.pth")));
  try {
    net->layer("area_conv.9");
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("area_conv.0, area_conv.1, area_conv.2, area_conv.3"), std::string::npos)
        << e.what();
  }
}

TEST(Network, BadWeightsNameTheFileAndTensor) {
  struct Case { const char* file; const char* needle; };
  for (const auto& c : {Case{"bad_nan_weights.pth", "NaN"}, Case{"bad_inf_bias.pth", "Inf"},
                        Case{"bad_even_kernel.pth", "even"}}) {
    try {
      detect_cordsnet(load_checkpoint(fixture(c.file)));
      ADD_FAILURE() << c.file;
    } catch (const ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(c.file), std::string::npos) << msg;
      EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    }
  }
}
