#include "model/io/detail/tf_table.hpp"

#include <snappy.h>

#include <cstdint>

#include "linalg/error.hpp"
#include "model/io/detail/crc32c.hpp"
#include "model/io/detail/wire.hpp"

namespace convdyn::model::detail {

const unsigned char kTableMagicBytes[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};

namespace {

constexpr std::size_t kFooterSize = 48;       // 2 handles padded to 40 bytes + 8-byte magic
constexpr std::size_t kHandlesSize = 40;
constexpr std::size_t kBlockTrailerSize = 5;  // type byte + fixed32 masked crc
// Snappy's densest element is a 3-byte copy that expands to 64 bytes (a 2-byte copy gives at most 11), so
// no valid stream decompresses to more than 64/3 of its size. A claim beyond that is refused unread.
constexpr std::uint64_t kSnappyMaxRatio = 22;

struct BlockHandle {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

bool decode_handle(const unsigned char*& p, const unsigned char* end, BlockHandle& h) {
  return get_varint64(p, end, h.offset) && get_varint64(p, end, h.size);
}

class TableReader {
 public:
  TableReader(const std::string& file, const std::string& path, bool verify)
      : file_(file), path_(path), verify_(verify) {}

  std::vector<TableEntry> read() {
    CONVDYN_CHECK(file_.size() >= kFooterSize, IoError,
                  "{}: too short ({} bytes) to be a TensorFlow checkpoint index (a table ends in a {}-byte footer)",
                  path_, file_.size(), kFooterSize);
    const auto* base = reinterpret_cast<const unsigned char*>(file_.data());
    const unsigned char* footer = base + file_.size() - kFooterSize;
    const std::uint64_t magic = load_le64(footer + kHandlesSize);
    CONVDYN_CHECK(std::memcmp(footer + kHandlesSize, kTableMagicBytes, 8) == 0, IoError,
                  "{}: not a TensorFlow checkpoint index (table magic {:016x}, expected db4775248b80fb57)", path_,
                  magic);
    limit_ = file_.size() - kFooterSize;
    BlockHandle meta, index;
    const unsigned char* p = footer;
    CONVDYN_CHECK(decode_handle(p, footer + kHandlesSize, meta) && decode_handle(p, footer + kHandlesSize, index),
                  IoError, "{}: malformed block handle (varint) in the table footer", path_);

    // The metaindex block is empty in TensorFlow's tables (no filters); it is read for its checksum only.
    const std::string meta_block = read_block(meta, "metaindex");
    for_each_entry(meta_block, meta, "metaindex", [](const std::string&, const char*, std::size_t) {});

    const std::string index_block = read_block(index, "index");
    std::vector<std::pair<std::string, BlockHandle>> data_handles;
    for_each_entry(index_block, index, "index", [&](const std::string& key, const char* v, std::size_t n) {
      const auto* q = reinterpret_cast<const unsigned char*>(v);
      BlockHandle h;
      CONVDYN_CHECK(decode_handle(q, q + n, h) && q == reinterpret_cast<const unsigned char*>(v) + n, IoError,
                    "{}: malformed block handle in the index block (entry {})", path_, data_handles.size());
      data_handles.emplace_back(key, h);
    });

    std::vector<TableEntry> out;
    std::uint64_t next_free = 0;  // data blocks follow each other, without overlap
    for (std::size_t i = 0; i < data_handles.size(); ++i) {
      const std::string& separator = data_handles[i].first;
      const BlockHandle h = data_handles[i].second;  // (a structured binding cannot be captured in C++17)
      CONVDYN_CHECK(h.offset >= next_free, IoError,
                    "{}: data block {} (offset {}) overlaps the block before it (which ends at {})", path_, i,
                    h.offset, next_free);
      const std::string block = read_block(h, "data");
      next_free = h.offset + h.size + kBlockTrailerSize;  // no overflow: read_block checked it against the file
      const std::size_t first = out.size();
      for_each_entry(block, h, "data", [&](const std::string& key, const char* v, std::size_t n) {
        CONVDYN_CHECK(out.empty() || out.back().key < key, IoError,
                      "{}: keys out of order in the data block at offset {} ('{}' after '{}')", path_, h.offset,
                      printable(key), printable(out.back().key));
        out.push_back({key, std::string(v, n)});
      });
      CONVDYN_CHECK(out.size() == first || out.back().key <= separator, IoError,
                    "{}: the index key of the data block at offset {} sorts before the block's last key", path_,
                    h.offset);
      CONVDYN_CHECK(i == 0 || out.size() == first || data_handles[i - 1].first < out[first].key, IoError,
                    "{}: the data block at offset {} starts with a key that belongs to the block before it", path_,
                    h.offset);
    }
    return out;
  }

 private:
  static std::string printable(const std::string& key) {
    std::string s;
    for (const unsigned char c : key.substr(0, 64)) s += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    return key.size() > 64 ? s + "..." : s;
  }

  // The block's contents (decompressed), after checking its extent and trailer checksum.
  std::string read_block(const BlockHandle& h, const char* what) const {
    CONVDYN_CHECK(h.offset <= limit_ && h.size <= limit_ - h.offset && kBlockTrailerSize <= limit_ - h.offset - h.size,
                  IoError, "{}: {} block (offset {}, size {}) lies past the end of the table ({} bytes before the footer)",
                  path_, what, h.offset, h.size, limit_);
    const auto* p = reinterpret_cast<const unsigned char*>(file_.data()) + h.offset;
    const auto n = static_cast<std::size_t>(h.size);
    const unsigned char type = p[n];
    if (verify_) {
      const std::uint32_t stored = crc32c_unmask(load_le32(p + n + 1));
      const std::uint32_t actual = crc32c_extend(crc32c(p, n), &type, 1);
      CONVDYN_CHECK(stored == actual, IoError,
                    "{}: checksum mismatch in the {} block at offset {} (stored {:08x}, computed {:08x})", path_, what,
                    h.offset, stored, actual);
    }
    if (type == 0) return std::string(reinterpret_cast<const char*>(p), n);
    CONVDYN_CHECK(type == 1, IoError, "{}: {} block at offset {} has unknown compression type {}", path_, what,
                  h.offset, static_cast<int>(type));
    const char* c = reinterpret_cast<const char*>(p);
    std::size_t ulen = 0;
    CONVDYN_CHECK(snappy::GetUncompressedLength(c, n, &ulen), IoError,
                  "{}: {} block at offset {}: corrupt snappy data (no valid length)", path_, what, h.offset);
    CONVDYN_CHECK(ulen <= kSnappyMaxRatio * n, IoError,
                  "{}: {} block at offset {}: snappy data claims {} bytes uncompressed from {} (impossible)", path_,
                  what, h.offset, ulen, n);
    CONVDYN_CHECK(snappy::IsValidCompressedBuffer(c, n), IoError,
                  "{}: {} block at offset {}: corrupt snappy data", path_, what, h.offset);
    std::string out(ulen, '\0');
    CONVDYN_CHECK(snappy::RawUncompress(c, n, out.data()), IoError,
                  "{}: {} block at offset {}: corrupt snappy data", path_, what, h.offset);
    return out;
  }

  // Calls f(key, value, value_len) for each entry of a block, checking the entry and restart structure.
  template <class F>
  void for_each_entry(const std::string& block, const BlockHandle& h, const char* what, F&& f) const {
    const auto* base = reinterpret_cast<const unsigned char*>(block.data());
    const std::size_t n = block.size();
    CONVDYN_CHECK(n >= 4, IoError, "{}: {} block at offset {} is too short ({} bytes)", path_, what, h.offset, n);
    const std::uint32_t num_restarts = load_le32(base + n - 4);
    CONVDYN_CHECK(num_restarts >= 1 && num_restarts <= (n - 4) / 4, IoError,
                  "{}: {} block at offset {} claims {} restart points ({} bytes hold at most {})", path_, what,
                  h.offset, num_restarts, n, (n - 4) / 4);
    const std::size_t restarts_at = n - 4 - 4 * static_cast<std::size_t>(num_restarts);
    const unsigned char* restarts = base + restarts_at;
    std::uint32_t next_restart = 0;  // index into the restart array
    std::string key;
    std::size_t pos = 0;
    const unsigned char* end = base + restarts_at;
    while (pos < restarts_at) {
      const unsigned char* p = base + pos;
      std::uint32_t shared = 0, non_shared = 0, value_len = 0;
      CONVDYN_CHECK(get_varint32(p, end, shared) && get_varint32(p, end, non_shared) && get_varint32(p, end, value_len),
                    IoError, "{}: malformed entry header (varint) at byte {} of the {} block at offset {}", path_,
                    pos, what, h.offset);
      CONVDYN_CHECK(shared <= key.size(), IoError,
                    "{}: entry at byte {} of the {} block at offset {} shares {} bytes with a {}-byte key", path_,
                    pos, what, h.offset, shared, key.size());
      const auto room = static_cast<std::uint64_t>(end - p);
      CONVDYN_CHECK(static_cast<std::uint64_t>(non_shared) + value_len <= room, IoError,
                    "{}: entry at byte {} of the {} block at offset {} runs past the block ({} + {} bytes, {} left)",
                    path_, pos, what, h.offset, non_shared, value_len, room);
      if (next_restart < num_restarts && load_le32(restarts + 4 * next_restart) == pos) {
        CONVDYN_CHECK(shared == 0, IoError,
                      "{}: restart point at byte {} of the {} block at offset {} has a shared key prefix", path_,
                      pos, what, h.offset);
        ++next_restart;
      } else {
        CONVDYN_CHECK(next_restart == num_restarts || load_le32(restarts + 4 * next_restart) > pos, IoError,
                      "{}: restart point {} of the {} block at offset {} is not at an entry", path_, next_restart,
                      what, h.offset);
        CONVDYN_CHECK(pos != 0, IoError, "{}: {} block at offset {} has no restart point at byte 0", path_, what,
                      h.offset);
      }
      key.resize(shared);
      key.append(reinterpret_cast<const char*>(p), non_shared);
      f(key, reinterpret_cast<const char*>(p) + non_shared, static_cast<std::size_t>(value_len));
      pos = static_cast<std::size_t>(p + non_shared + value_len - base);
    }
    // An empty block keeps the single restart point 0; otherwise every restart point must have been an entry.
    const bool empty_ok = restarts_at == 0 && num_restarts == 1 && load_le32(restarts) == 0;
    CONVDYN_CHECK(empty_ok || next_restart == num_restarts, IoError,
                  "{}: restart point {} of the {} block at offset {} is not at an entry", path_, next_restart, what,
                  h.offset);
  }

  const std::string& file_;
  const std::string& path_;
  bool verify_;
  std::uint64_t limit_ = 0;
};

}  // namespace

std::vector<TableEntry> read_table(const std::string& file, const std::string& path, bool verify_checksums) {
  return TableReader(file, path, verify_checksums).read();
}

}  // namespace convdyn::model::detail
