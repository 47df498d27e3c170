// The .pth reader: a module state dict through the restricted unpickler, protocols, hostile pickles, bad files
// and edge tensors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/pickle.hpp"
#include "model/io/pth_reader.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;


TEST(PthReader, ModuleStateDictIsAnOrderedDictOfTensors) {
  auto root = read_pth(fixture("cordsnet_d4_param_module.pth"));
  ASSERT_EQ(root->kind, PyKind::Dict);
  const PyValue* g = root->get("area_conv.2.parametrizations.weight.original0");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->kind, PyKind::Tensor);
  EXPECT_EQ(g->tensor.sizes(), (at::IntArrayRef{4, 1, 1, 1}));
  const PyValue* bias = root->get("conv_bias.3");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->tensor.dim(), 3);
}

TEST(PthReader, Protocol4MatchesProtocol2) {
  auto a = read_pth(fixture("cordsnet_d4_param_module.pth"));
  auto b = read_pth(fixture("cordsnet_d4_proto4.pth"));
  ASSERT_EQ(a->entries.size(), b->entries.size());
  for (std::size_t i = 0; i < a->entries.size(); ++i) {
    EXPECT_EQ(a->entries[i].first->s, b->entries[i].first->s);
    EXPECT_TRUE(at::equal(a->entries[i].second->tensor, b->entries[i].second->tensor)) << a->entries[i].first->s;
  }
}

TEST(PthReader, HostilePicklesAreRefusedAndNothingRuns) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "convdyn_pickle_test";
  fs::create_directories(dir);
  const auto old = fs::current_path();
  fs::current_path(dir);  // the payloads would create ./convdyn_pwned_marker
  for (const char* f : {"bad_forbidden_global.pth", "bad_eval_global.pth"}) {
    try {
      read_pth(fixture(f));
      ADD_FAILURE() << f << " was accepted";
    } catch (const ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("refusing to load"), std::string::npos) << msg;
      EXPECT_TRUE(msg.find("system") != std::string::npos || msg.find("eval") != std::string::npos) << msg;
    }
  }
  EXPECT_FALSE(fs::exists(dir / "convdyn_pwned_marker"));
  fs::current_path(old);
  fs::remove_all(dir);
}

TEST(PthReader, BadFilesGiveOneLineIoErrors) {
  for (const char* f : {"bad_random_bytes.pth", "bad_truncated.pth", "bad_legacy_format.pth", "no_such_file.pth"}) {
    try {
      read_pth(fixture(f));
      ADD_FAILURE() << f << " was accepted";
    } catch (const IoError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_NE(msg.find(f), std::string::npos) << msg;
    }
  }
}

TEST(PthReader, EdgeTensorsViewsDtypesAndScalars) {
  // Written by make_fixtures.py: views sharing a storage, offsets, strides, empty and 0-dim tensors,
  // int64/float16, and ints beyond one byte.
  auto root = read_pth(fixture("edge_tensors.pth"));
  ASSERT_EQ(root->kind, PyKind::Dict);
  auto t = [&](const char* k) {
    const PyValue* v = root->get(k);
    EXPECT_TRUE(v && v->kind == PyKind::Tensor) << k;
    return v ? v->tensor : at::Tensor();
  };
  EXPECT_TRUE(at::equal(t("view"), t("base").narrow(0, 10, 20).view({4, 5})));
  EXPECT_TRUE(at::equal(t("transposed"), t("transposed_contiguous")));
  EXPECT_EQ(t("empty").sizes(), (at::IntArrayRef{0, 70000}));
  EXPECT_EQ(t("scalar").dim(), 0);
  EXPECT_EQ(t("int64").scalar_type(), at::kLong);
  EXPECT_EQ(t("float16").scalar_type(), at::kHalf);
  EXPECT_EQ(t("wide.weight").sizes(), (at::IntArrayRef{1, 1, 3, 300}));
  EXPECT_EQ(root->get("big_int")->i, 1099511627776LL);
  EXPECT_EQ(root->get("neg_int")->i, -70000);
  EXPECT_DOUBLE_EQ(root->get("pi")->f, 3.14);
  EXPECT_TRUE(root->get("flag")->b);
  EXPECT_EQ(root->get("nothing")->kind, PyKind::None);
  EXPECT_EQ(root->get("text")->s, "caf\xc3\xa9");
}
