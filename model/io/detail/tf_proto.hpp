// Hand-parsed protobuf wire format of the two messages a tensor bundle's index holds
// (tensorflow/core/protobuf/tensor_bundle.proto), without libprotobuf:
//
//   BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }
//   VersionDef        { int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3; }
//   BundleEntryProto  { DataType dtype = 1; TensorShapeProto shape = 2; int32 shard_id = 3; int64 offset = 4;
//                       int64 size = 5; fixed32 crc32c = 6; repeated TensorSliceProto slices = 7; }
//   TensorShapeProto  { repeated Dim dim = 2; bool unknown_rank = 3; }   Dim { int64 size = 1; string name = 2; }
//
// Unknown fields are skipped by wire type (as protobuf does); repeated scalars are accepted packed or not; a
// message field given twice is merged. Malformed input (truncated varints or lengths, group or reserved wire
// types, field number 0) throws IoError "<where>: malformed <Message>".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace convdyn::model::detail {

struct BundleHeaderMsg {
  std::int64_t num_shards = 0;
  std::int64_t endianness = 0;  ///< 0 LITTLE, 1 BIG
  std::int64_t producer = 0, min_consumer = 0;
  std::vector<std::int64_t> bad_consumers;
};

struct BundleEntryMsg {
  std::int64_t dtype = 0;
  bool has_shape = false, unknown_rank = false;
  std::vector<std::int64_t> dims;
  std::int64_t shard_id = 0, offset = 0, size = 0;
  std::uint32_t crc32c = 0;
  bool has_crc32c = false;
  std::size_t n_slices = 0;
};

/// `where` starts the error message, e.g. "<index path>: entry 'a/b'".
BundleHeaderMsg parse_bundle_header(const std::string& bytes, const std::string& where);
BundleEntryMsg parse_bundle_entry(const std::string& bytes, const std::string& where);

}  // namespace convdyn::model::detail
