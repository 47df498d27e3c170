// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as LevelDB tables and TensorFlow tensor bundles
// store it, and LevelDB's "masked" form of a stored CRC.
//
// Debian 12 packages no small CRC-32C library (no libcrc32c-dev; libcrcutil-dev is a large generic CRC
// toolkit), so this is a slicing-by-8 table implementation, with the SSE4.2 crc32 instruction when the
// CPU has it (checked at run time). Both paths give identical results (tests/model/io/test_tf_bundle.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

namespace convdyn::model::detail {

/// CRC-32C of `n` bytes continuing from `crc` (0 for a fresh checksum).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
/// The table-driven path only (for tests; crc32c_extend picks the fastest path).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept;

inline std::uint32_t crc32c(const void* data, std::size_t n) noexcept { return crc32c_extend(0, data, n); }

/// LevelDB's mask (rotate right by 15, add a constant): a CRC stored next to data that itself holds CRCs.
constexpr std::uint32_t crc32c_mask(std::uint32_t crc) noexcept {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
constexpr std::uint32_t crc32c_unmask(std::uint32_t masked) noexcept {
  const std::uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace convdyn::model::detail
