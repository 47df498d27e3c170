// Bounds-checked little-endian and varint decoding (LevelDB tables and protobuf wire format).
// Every function reads only inside [p, end) and reports failure instead of reading past it.
#pragma once
#include <cstdint>
#include <cstring>

namespace convdyn::model::detail {

inline std::uint32_t load_le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(load_le32(p)) | (static_cast<std::uint64_t>(load_le32(p + 4)) << 32);
}

/// A varint of at most 10 bytes whose value fits 64 bits; advances `p`. False when truncated or malformed.
inline bool get_varint64(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) noexcept {
  std::uint64_t r = 0;
  for (int shift = 0; shift <= 63 && p < end; shift += 7) {
    const std::uint64_t b = *p++;
    if (shift == 63 && (b & 0x7e)) return false;  // bits beyond 64
    r |= (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      v = r;
      return true;
    }
  }
  return false;
}

/// A varint of at most 5 bytes whose value fits 32 bits (LevelDB's varint32); advances `p`.
inline bool get_varint32(const unsigned char*& p, const unsigned char* end, std::uint32_t& v) noexcept {
  std::uint32_t r = 0;
  for (int shift = 0; shift <= 28 && p < end; shift += 7) {
    const std::uint32_t b = *p++;
    if (shift == 28 && (b & 0x70)) return false;  // bits beyond 32
    r |= (b & 0x7f) << shift;
    if (!(b & 0x80)) {
      v = r;
      return true;
    }
  }
  return false;
}

}  // namespace convdyn::model::detail
