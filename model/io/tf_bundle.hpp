// Reads TensorFlow 1 checkpoints (tensor bundles: `<prefix>.index` + `<prefix>.data-XXXXX-of-YYYYY`)
// without TensorFlow.
//
// The `.index` is a LevelDB-derived table (model/io/detail/tf_table.hpp) whose first entry, under the empty
// key, is a BundleHeaderProto (shard count, endianness, version) and whose other entries map each variable
// name to a BundleEntryProto (dtype, shape, shard, offset, size, masked CRC-32C of the raw bytes); see
// model/io/detail/tf_proto.hpp. A variable's data is `size` raw little-endian row-major bytes at `offset` of
// its shard, in TensorFlow's layout (e.g. a conv kernel is [k, k, Cin, Cout]).
//
// Hardening: every size (blocks, snappy expansion, entry extents, shapes) is checked against the bytes the
// files actually hold before anything is allocated; every block and tensor checksum is verified. Bad input
// throws IoError (corrupt, truncated, missing) or ValueError (valid but unsupported: big-endian bundles,
// partitioned variables, dtypes convdyn cannot read) with a one-line message "<file>: <problem>".
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convdyn::model {

struct TfBundleEntry {
  std::string name;    ///< the variable's key, e.g. "tnn_model/conv4/ConvGRUCell/gates/weights"
  int tf_dtype = 0;    ///< TensorFlow's DataType enum (DT_FLOAT = 1, DT_DOUBLE = 2, DT_STRING = 7, ...)
  std::string dtype;   ///< "float32", "float64", "int32", "int64", "string", ... ("dtype(N)" when unknown)
  std::vector<std::int64_t> shape;  ///< as stored ([] for a scalar)
  std::int32_t shard_id = 0;
  std::uint64_t offset = 0, size = 0;  ///< extent of the raw bytes in the shard
  std::uint32_t masked_crc32c = 0;     ///< as stored (LevelDB-masked CRC-32C of the raw bytes)
  bool has_crc = false;                ///< whether the entry stored a checksum (TensorFlow always does)
};

struct TfBundle {
  std::string prefix;      ///< "<dir>/model.ckpt"
  std::string index_path;  ///< "<prefix>.index" (or the file given, when it lacks the suffix)
  std::int32_t num_shards = 1;
  std::vector<TfBundleEntry> entries;     ///< in key order; the header (key "") excluded
  std::vector<std::string> shard_paths;   ///< "<prefix>.data-00000-of-00001", ... (num_shards of them)
  std::vector<std::uint64_t> shard_sizes;  ///< their sizes when the bundle was opened
  bool verify_checksums = true;           ///< read_tf_tensor verifies each tensor's CRC-32C
};

struct TfBundleReadOptions {
  /// Verify the block checksums of the index and (through TfBundle::verify_checksums) each tensor's.
  /// Only the fuzz target turns this off, to reach the parsers behind the checksums.
  bool verify_checksums = true;
};

/// Whether `path` is a tensor bundle: `path` itself, or else `path + ".index"`, is a regular file that ends
/// in the table footer magic (recognised by content, not by name). Never throws.
bool is_tf_bundle(const std::string& path) noexcept;

/// Opens the bundle given by its prefix or its index path: reads and checks the whole index (footer, block
/// checksums, header, every entry) and checks that each data shard exists and holds each entry's extent, and
/// that each fixed-size dtype's byte count is numel * element size. Cost: one read of the index file.
TfBundle read_tf_bundle(const std::string& path, const TfBundleReadOptions& opt = {});

/// The variable's values as a CPU tensor of its dtype and stored shape (float32, float64, float16,
/// bfloat16, int8, int16, int32, int64, uint8; anything else is a ValueError), with the CRC-32C verified.
at::Tensor read_tf_tensor(const TfBundle& b, const TfBundleEntry& e);

/// Whether a variable name is training state rather than a model weight: optimiser slots (".../Momentum",
/// ".../Adam", ".../Adam_1", ".../RMSProp", ".../Adagrad", ".../Ftrl", ... optionally with a "_<n>" suffix),
/// Adam's "beta1_power"/"beta2_power", "global_step", and TF2's ".OPTIMIZER_SLOT", "optimizer/..." and
/// "save_counter" keys. ExponentialMovingAverage shadows are not slots.
bool is_optimizer_slot(const std::string& name);

/// The name of TensorFlow's DataType `tf_dtype` ("float32", ...; "dtype(N)" when unknown).
std::string tf_dtype_name(int tf_dtype);

}  // namespace convdyn::model
