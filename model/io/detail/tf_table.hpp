// Reader of the LevelDB-derived table that TensorFlow writes as a tensor bundle's `.index` file
// (tensorflow/core/lib/io/table_format.txt: LevelDB's format without filter blocks).
//
// Layout: data blocks, a metaindex block (empty), an index block, and a 48-byte footer (metaindex and index
// BlockHandles as varint64 pairs, zero-padded to 40 bytes, then the magic 0xdb4775248b80fb57 as two
// little-endian fixed32). Each block is followed by a 5-byte trailer: compression type (0 none, 1 snappy)
// and the masked CRC-32C of the block bytes plus the type byte. A block holds prefix-compressed entries
// (varint32 shared, non_shared, value_len, key delta, value), then a fixed32 restart array and its count.
// Index block values are BlockHandles of the data blocks.
//
// Written here rather than taken from libleveldb: leveldb's ReadBlock allocates the handle's claimed size
// before it checks it against the file, and convdyn refuses every size the file cannot hold before any
// allocation. The whole file is held in memory (an index is small); every handle, length and restart offset
// is checked against the bytes actually present, and snappy blocks may not claim more than snappy's
// largest expansion of their compressed bytes.
#pragma once
#include <string>
#include <vector>

namespace convdyn::model::detail {

struct TableEntry {
  std::string key;
  std::string value;
};

/// The 8 bytes a table file ends with (the footer magic), in file order.
extern const unsigned char kTableMagicBytes[8];

/// All entries of the table `file` (the bytes of the file `path`, named in errors), in key order.
/// Checks the footer magic, every block's checksum (unless `verify_checksums` is false), the block
/// structure and that keys strictly increase. Throws IoError "<path>: <problem>" on any malformed input.
std::vector<TableEntry> read_table(const std::string& file, const std::string& path, bool verify_checksums = true);

}  // namespace convdyn::model::detail
