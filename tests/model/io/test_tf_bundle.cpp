// The TensorFlow tensor-bundle reader (model/io/tf_bundle.hpp): every real TensorFlow-written fixture
// (tests/fixtures/tf_fixture, names, dtypes, shapes and values), bundles written by
// tests/fixtures/tf_bundle_writer.py (tests/fixtures/tf_roundtrip), load_checkpoint on a bundle, and every
// bad input of tests/fixtures/tf_bad (see make_tf_bad_fixtures.py).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/checkpoint.hpp"
#include "model/io/detail/crc32c.hpp"
#include "model/io/tf_bundle.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;
namespace crc = convdyn::model::detail;

namespace {

std::string real(const std::string& folder) { return fixture("tf_fixture/" + folder + "/variables"); }

const TfBundleEntry& entry(const TfBundle& b, const std::string& name) {
  for (const auto& e : b.entries)
    if (e.name == name) return e;
  throw std::runtime_error("no entry " + name);
}

std::vector<std::string> names_of(const TfBundle& b) {
  std::vector<std::string> n;
  for (const auto& e : b.entries) n.push_back(e.name);
  return n;
}

float scalar_f32(const TfBundle& b, const std::string& name) {
  const at::Tensor t = read_tf_tensor(b, entry(b, name));
  EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  EXPECT_EQ(t.dim(), 0) << name;
  return t.item<float>();
}

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace

// ---- CRC-32C -------------------------------------------------------------------------------------------

TEST(TfBundleCrc32c, KnownVectorsAndBothPaths) {
  const char* s = "123456789";
  EXPECT_EQ(crc::crc32c(s, 9), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(crc::crc32c("", 0), 0u);
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xff);
  EXPECT_EQ(crc::crc32c(zeros.data(), 32), 0x8A9136AAu);  // RFC 3720 B.4 test vectors
  EXPECT_EQ(crc::crc32c(ones.data(), 32), 0x62A8AB43u);
  std::vector<unsigned char> buf(1000);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 31 + 7);
  for (std::size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 999, 1000}) {
    EXPECT_EQ(crc::crc32c_extend(0, buf.data(), n), crc::crc32c_extend_portable(0, buf.data(), n)) << n;
    // Extending in two pieces gives the checksum of the whole.
    EXPECT_EQ(crc::crc32c_extend(crc::crc32c(buf.data(), n / 3), buf.data() + n / 3, n - n / 3),
              crc::crc32c(buf.data(), n));
  }
  EXPECT_EQ(crc::crc32c_unmask(crc::crc32c_mask(0x12345678u)), 0x12345678u);
  EXPECT_NE(crc::crc32c_mask(0x12345678u), 0x12345678u);
}

// ---- Real TensorFlow-written bundles -------------------------------------------------------------------

TEST(TfBundleReal, HalfPlusTwoCpuSnappyBlock) {
  const std::string p = real("saved_model_half_plus_two_cpu");
  ASSERT_TRUE(is_tf_bundle(p));
  const TfBundle b = read_tf_bundle(p);
  EXPECT_EQ(b.num_shards, 1);
  EXPECT_EQ(b.prefix, p);
  EXPECT_EQ(b.index_path, p + ".index");
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"a", "a2", "b", "c", "c2"}));
  for (const auto& e : b.entries) {
    EXPECT_EQ(e.dtype, "float32");
    EXPECT_EQ(e.tf_dtype, 1);
    EXPECT_TRUE(e.shape.empty());
    EXPECT_EQ(e.size, 4u);
    EXPECT_TRUE(e.has_crc);
  }
  EXPECT_EQ(entry(b, "c2").offset, 16u);
  EXPECT_EQ(scalar_f32(b, "a"), 0.5f);
  EXPECT_EQ(scalar_f32(b, "a2"), 0.5f);
  EXPECT_EQ(scalar_f32(b, "b"), 2.0f);
  EXPECT_EQ(scalar_f32(b, "c"), 3.0f);
  EXPECT_EQ(scalar_f32(b, "c2"), 3.0f);
}

TEST(TfBundleReal, HalfPlusThree) {
  const TfBundle b = read_tf_bundle(real("saved_model_half_plus_three"));
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(scalar_f32(b, "a"), 0.5f);
  EXPECT_EQ(scalar_f32(b, "b"), 3.0f);
  EXPECT_EQ(scalar_f32(b, "c"), 3.0f);
}

TEST(TfBundleReal, Counter) {
  const TfBundle b = read_tf_bundle(real("saved_model_counter") + ".index");
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"counter"}));
  EXPECT_EQ(scalar_f32(b, "counter"), 0.0f);
}

TEST(TfBundleReal, HalfPlusTwoMklConvKernels) {
  const TfBundle b = read_tf_bundle(real("saved_model_half_plus_two_mkl"));
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"a", "b", "c", "conv2d/bias", "conv2d/kernel", "conv2d_1/bias",
                                                   "conv2d_1/kernel", "conv2d_2/bias", "conv2d_2/kernel"}));
  EXPECT_EQ(scalar_f32(b, "a"), 0.5f);
  EXPECT_EQ(scalar_f32(b, "b"), 2.0f);
  EXPECT_EQ(scalar_f32(b, "c"), 3.0f);
  const std::pair<const char*, std::uint32_t> kernels[] = {
      {"conv2d/kernel", 0xbf05bbbeu}, {"conv2d_1/kernel", 0xbf85c63bu}, {"conv2d_2/kernel", 0x3fc9fa0bu}};
  for (const auto& [name, want] : kernels) {
    const auto& e = entry(b, name);
    EXPECT_EQ(e.shape, (std::vector<std::int64_t>{1, 1, 1, 1})) << name;  // TF layout [k, k, Cin, Cout]
    const at::Tensor t = read_tf_tensor(b, e);
    ASSERT_EQ(t.sizes(), at::IntArrayRef({1, 1, 1, 1}));
    EXPECT_EQ(bits(t.flatten()[0].item<float>()), want) << name;
  }
  EXPECT_NEAR(read_tf_tensor(b, entry(b, "conv2d/kernel")).item<float>(), -0.5223959684371948, 1e-7);
  EXPECT_NEAR(read_tf_tensor(b, entry(b, "conv2d_1/kernel")).item<float>(), -1.0451120138168335, 1e-7);
  EXPECT_NEAR(read_tf_tensor(b, entry(b, "conv2d_2/kernel")).item<float>(), 1.577943205833435, 1e-7);
  for (const char* bias : {"conv2d/bias", "conv2d_1/bias", "conv2d_2/bias"}) {
    const at::Tensor t = read_tf_tensor(b, entry(b, bias));
    EXPECT_EQ(t.sizes(), at::IntArrayRef({1}));
    EXPECT_EQ(t[0].item<float>(), 0.0f);
  }
}

TEST(TfBundleReal, Tf2ObjectGraphKeysAndStringEntry) {
  const TfBundle b = read_tf_bundle(real("saved_model_half_plus_two_tf2_cpu"));
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"_CHECKPOINTABLE_OBJECT_GRAPH", "a/.ATTRIBUTES/VARIABLE_VALUE",
                                                   "b/.ATTRIBUTES/VARIABLE_VALUE", "c/.ATTRIBUTES/VARIABLE_VALUE"}));
  const auto& g = entry(b, "_CHECKPOINTABLE_OBJECT_GRAPH");
  EXPECT_EQ(g.dtype, "string");
  EXPECT_EQ(g.tf_dtype, 7);
  EXPECT_TRUE(g.shape.empty());
  EXPECT_EQ(g.offset, 12u);
  EXPECT_EQ(g.size, 619u);
  try {
    read_tf_tensor(b, g);
    ADD_FAILURE() << "a DT_STRING entry was read";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype string"), std::string::npos) << e.what();
  }
  EXPECT_EQ(scalar_f32(b, "a/.ATTRIBUTES/VARIABLE_VALUE"), 0.5f);
  EXPECT_EQ(scalar_f32(b, "b/.ATTRIBUTES/VARIABLE_VALUE"), 2.0f);
  EXPECT_EQ(scalar_f32(b, "c/.ATTRIBUTES/VARIABLE_VALUE"), 3.0f);
}

TEST(TfBundleReal, LoadCheckpointOnPrefixAndIndex) {
  const std::string p = real("saved_model_half_plus_two_mkl");
  for (const std::string& path : {p, p + ".index"}) {
    const Checkpoint c = load_checkpoint(path);
    EXPECT_EQ(c.format, "tf-bundle");
    EXPECT_EQ(c.path, path);
    EXPECT_EQ(c.names.size(), 9u);
    EXPECT_EQ(c.get("b").item<float>(), 2.0f);
    EXPECT_EQ(c.get("conv2d_2/kernel").sizes(), at::IntArrayRef({1, 1, 1, 1}));
    EXPECT_EQ(c.sha256.size(), 64u);
  }
  EXPECT_EQ(load_checkpoint(p).sha256, load_checkpoint(p + ".index").sha256);
  EXPECT_NE(load_checkpoint(p).sha256, sha256_file(p + ".index"));  // the shard is hashed too
  // TF2: the DT_STRING object graph is skipped, the variables keep their object-graph keys.
  const Checkpoint c2 = load_checkpoint(real("saved_model_half_plus_two_tf2_cpu"));
  EXPECT_EQ(c2.names, (std::vector<std::string>{"a/.ATTRIBUTES/VARIABLE_VALUE", "b/.ATTRIBUTES/VARIABLE_VALUE",
                                                "c/.ATTRIBUTES/VARIABLE_VALUE"}));
  const Checkpoint c3 = load_checkpoint(real("saved_model_half_plus_two_cpu") + ".index");
  EXPECT_EQ(c3.names, (std::vector<std::string>{"a", "a2", "b", "c", "c2"}));
}

TEST(TfBundleReal, RecognisedByContentNotName) {
  EXPECT_FALSE(is_tf_bundle(fixture("cordsnet_d2_plain.pth")));
  EXPECT_FALSE(is_tf_bundle(fixture("tf_bad/bad_magic")));
  EXPECT_FALSE(is_tf_bundle(fixture("tf_bad/truncated_short.index")));
  EXPECT_FALSE(is_tf_bundle(fixture("no/such/file")));
  EXPECT_FALSE(is_tf_bundle(fixture("tf_fixture")));  // a directory
  // A copy of an index under another name is still a bundle index (its shards are then missing).
  const std::string copy = (std::filesystem::temp_directory_path() / "convdyn_tf_index_renamed.bin").string();
  std::filesystem::copy_file(real("saved_model_counter") + ".index", copy,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(is_tf_bundle(copy));
  EXPECT_THROW(read_tf_bundle(copy), IoError);
  std::filesystem::remove(copy);
  // The .pth path still works as before.
  EXPECT_EQ(load_checkpoint(fixture("cordsnet_d2_plain.pth")).format, "pytorch-zip");
}

// ---- Bundles written by tests/fixtures/tf_bundle_writer.py ---------------------------------------------

TEST(TfBundleWriter, RoundTripValues) {
  const std::string p = fixture("tf_roundtrip/model.ckpt");
  const TfBundle b = read_tf_bundle(p);
  EXPECT_EQ(names_of(b), (std::vector<std::string>{"counts", "global_step", "tnn_model/conv4/ConvGRUCell/gates/bias",
                                                   "tnn_model/conv4/ConvGRUCell/gates/weights",
                                                   "tnn_model/conv4/ConvGRUCell/gates/weights/Momentum",
                                                   "tnn_model/conv4/memory_decay"}));
  // weights = (arange(72).reshape(3, 3, 2, 4) - 36) / 8, float32, TF layout kept.
  const at::Tensor w = read_tf_tensor(b, entry(b, "tnn_model/conv4/ConvGRUCell/gates/weights"));
  ASSERT_EQ(w.sizes(), at::IntArrayRef({3, 3, 2, 4}));
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  const at::Tensor want = (at::arange(72, at::kFloat).reshape({3, 3, 2, 4}) - 36) / 8;
  EXPECT_TRUE(at::equal(w, want));
  EXPECT_EQ(w[1][2][0][3].item<float>(), (1 * 24 + 2 * 8 + 0 * 4 + 3 - 36) / 8.0f);
  const at::Tensor bias = read_tf_tensor(b, entry(b, "tnn_model/conv4/ConvGRUCell/gates/bias"));
  EXPECT_EQ(bias.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(bias, at::tensor({0.5, -0.25, 1e-3, 7.0}, at::kDouble)));
  EXPECT_EQ(read_tf_tensor(b, entry(b, "tnn_model/conv4/memory_decay")).item<float>(), -0.75f);
  const at::Tensor gs = read_tf_tensor(b, entry(b, "global_step"));
  EXPECT_EQ(gs.scalar_type(), at::kLong);
  EXPECT_EQ(gs.item<std::int64_t>(), 123456789012);
  const at::Tensor counts = read_tf_tensor(b, entry(b, "counts"));
  EXPECT_EQ(counts.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(counts, at::tensor({-1, 2, 3}, at::kInt)));

  // load_checkpoint keeps float variables only, without the Momentum slot and global_step.
  const Checkpoint c = load_checkpoint(p);
  EXPECT_EQ(c.names, (std::vector<std::string>{"tnn_model/conv4/ConvGRUCell/gates/bias",
                                               "tnn_model/conv4/ConvGRUCell/gates/weights",
                                               "tnn_model/conv4/memory_decay"}));
  EXPECT_TRUE(at::equal(c.get("tnn_model/conv4/ConvGRUCell/gates/weights"), want));
}

TEST(TfBundleWriter, ManyDataBlocks) {
  // 40 variables with a 64-byte block size: many data blocks, index separators, restart points.
  const TfBundle b = read_tf_bundle(fixture("tf_roundtrip/multiblock.index"));
  ASSERT_EQ(b.entries.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    const auto& e = b.entries[static_cast<std::size_t>(i)];
    EXPECT_EQ(e.name, fmt::format("layer{:02d}/w", i));
    const at::Tensor t = read_tf_tensor(b, e);
    EXPECT_EQ(t.scalar_type(), at::kDouble);
    EXPECT_TRUE(at::equal(t, at::full({i % 3 + 1}, static_cast<double>(i), at::kDouble))) << e.name;
  }
}

TEST(TfBundleWriter, OptimizerSlots) {
  for (const char* s : {"v/Momentum", "a/b/Adam", "a/b/Adam_1", "x/RMSProp_1", "w/Adagrad", "w/Ftrl_1",
                        "global_step", "scope/global_step", "beta1_power", "beta2_power",
                        "x/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
                        "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
                        "global_step/.ATTRIBUTES/VARIABLE_VALUE"})
    EXPECT_TRUE(is_optimizer_slot(s)) << s;
  for (const char* s : {"tnn_model/conv4/ConvGRUCell/gates/weights", "Momentum", "a/Momentumx", "a/Adam_x",
                        "tnn_model/conv5/ReciprocalGateCell/cell/gate/weights", "a/.ATTRIBUTES/VARIABLE_VALUE",
                        "conv2d/kernel", "w/ExponentialMovingAverage"})
    EXPECT_FALSE(is_optimizer_slot(s)) << s;
}

// ---- Bad input -----------------------------------------------------------------------------------------

namespace {

enum class Kind { Io, Value };

struct BadCase {
  const char* name;
  Kind kind;
  const char* says;  ///< a fragment of the message
};

// Opens the bundle and reads every tensor, as `convdyn inspect` + analysis would.
void read_everything(const std::string& prefix) {
  const TfBundle b = read_tf_bundle(prefix);
  for (const auto& e : b.entries) read_tf_tensor(b, e);
}

}  // namespace

class TfBundleBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(TfBundleBad, OneLineErrorNamingTheFile) {
  const BadCase& c = GetParam();
  const std::string prefix = fixture(std::string("tf_bad/") + c.name);
  for (const std::string& path : {prefix, prefix + ".index"}) {
    std::string msg;
    try {
      read_everything(path);
      ADD_FAILURE() << c.name << ": no error";
      continue;
    } catch (const IoError& e) {
      msg = e.what();
      EXPECT_EQ(c.kind, Kind::Io) << msg;
    } catch (const ValueError& e) {
      msg = e.what();
      EXPECT_EQ(c.kind, Kind::Value) << msg;
    }
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "does not start with the file: " << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << "expected '" << c.says << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TfBundleBad,
    ::testing::Values(BadCase{"truncated_short", Kind::Io, "too short"},
                      BadCase{"truncated_tail", Kind::Io, "table magic"},
                      BadCase{"bad_magic", Kind::Io, "not a TensorFlow checkpoint index"},
                      BadCase{"block_crc", Kind::Io, "checksum mismatch in the data block"},
                      BadCase{"bad_footer_varint", Kind::Io, "malformed block handle"},
                      BadCase{"handle_past_eof", Kind::Io, "lies past the end of the table"},
                      BadCase{"absurd_block_size", Kind::Io, "lies past the end of the table"},
                      BadCase{"bad_block_type", Kind::Io, "unknown compression type 2"},
                      BadCase{"bad_snappy", Kind::Io, "corrupt snappy data"},
                      BadCase{"snappy_huge_claim", Kind::Io, "impossible"},
                      BadCase{"bad_restarts", Kind::Io, "restart points"},
                      BadCase{"keys_out_of_order", Kind::Io, "keys out of order"},
                      BadCase{"no_header", Kind::Io, "no tensor-bundle header"},
                      BadCase{"big_endian", Kind::Value, "big-endian"},
                      BadCase{"zero_shards", Kind::Io, "claims 0 data shards"},
                      BadCase{"newer_version", Kind::Value, "format version >= 5"},
                      BadCase{"entry_past_shard", Kind::Io, "lies past the end of the shard"},
                      BadCase{"huge_tensor", Kind::Io, "lies past the end of the shard"},
                      BadCase{"shape_overflow", Kind::Io, "overflows"},
                      BadCase{"size_mismatch", Kind::Io, "8 bytes stored for shape [3] of float32 (12 bytes expected)"},
                      BadCase{"partitioned", Kind::Value, "partitioned"},
                      BadCase{"shard_id_out_of_range", Kind::Io, "is in shard 3, but the bundle has 1"},
                      BadCase{"negative_dim", Kind::Io, "negative or unknown dimension"},
                      BadCase{"truncated_entry", Kind::Io, "malformed BundleEntryProto"},
                      BadCase{"unsupported_dtype", Kind::Value, "dtype complex64"},
                      BadCase{"missing_shard", Kind::Io, "data shard 0 of 1 is missing"},
                      BadCase{"tensor_crc", Kind::Io, "checksum mismatch"},
                      BadCase{"truncated_shard", Kind::Io, "lies past the end of the shard"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return std::string(i.param.name); });

TEST(TfBundleBadLoad, LoadCheckpointReportsTheBundleError) {
  // Through load_checkpoint (what every command calls), on the prefix and on the .index file.
  for (const char* name : {"block_crc", "tensor_crc", "missing_shard", "truncated_tail", "huge_tensor"}) {
    const std::string prefix = fixture(std::string("tf_bad/") + name);
    for (const std::string& path : {prefix, prefix + ".index"}) {
      try {
        load_checkpoint(path);
        ADD_FAILURE() << path << ": no error";
      } catch (const convdyn::Error& e) {
        EXPECT_NE(std::string(e.what()).find(prefix), std::string::npos) << e.what();
      }
    }
  }
  // Only optimiser state and global_step: nothing to analyse.
  try {
    load_checkpoint(fixture("tf_bad/only_training_state"));
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("no float32/float64 model variables"), std::string::npos) << e.what();
  }
  LoadOptions o;
  o.key = "model_state_dict";
  EXPECT_THROW(load_checkpoint(real("saved_model_counter"), o), ValueError);
  // A model variable of an unsupported dtype (complex64) is refused, naming it, not silently dropped.
  try {
    load_checkpoint(fixture("tf_bad/unsupported_dtype"));
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype complex64"), std::string::npos) << e.what();
  }
}

TEST(TfBundleBadLoad, HugeClaimedTensorFailsFast) {
  // A 100 GB float32 tensor claimed by a 48-byte shard: refused before any allocation, in milliseconds.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(read_tf_bundle(fixture("tf_bad/huge_tensor")), IoError);
  EXPECT_THROW(read_tf_bundle(fixture("tf_bad/absurd_block_size")), IoError);
  EXPECT_THROW(read_tf_bundle(fixture("tf_bad/snappy_huge_claim")), IoError);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 500.0);
}

TEST(TfBundleBadLoad, NoSuchFile) {
  const std::string p = fixture("tf_bad/does_not_exist");
  try {
    read_tf_bundle(p);
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()), p + ": no such file (nor " + p + ".index)");
  }
  EXPECT_THROW(read_tf_bundle(fixture("tf_fixture")), IoError);  // a directory
}
