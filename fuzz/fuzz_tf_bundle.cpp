// libFuzzer target: bytes -> a scratch tensor bundle -> model::read_tf_bundle + read_tf_tensor of every entry.
//
// Input layout: a little-endian uint32 n, then n bytes of the data shard (<prefix>.data-00000-of-00001),
// then the rest as the index (<prefix>.index); n is clamped to what is there, and an input shorter than 4
// bytes is all index. scripts/fuzz.sh seeds the corpus from tests/fixtures/tf_fixture, tf_roundtrip and
// tf_bad in this layout. Each input is read twice: with checksums off (so mutations reach the block,
// protobuf and extent parsers behind the CRCs) and with them on (as convdyn reads files).
// tests/model/io/test_fuzz_regressions.cpp replays tests/fixtures/fuzz-regressions/fuzz_tf_bundle/ the same way.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "fuzz_common.hpp"
#include "linalg/error.hpp"
#include "model/io/tf_bundle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static convdyn::fuzz::ScratchFile index(".index");
  static convdyn::fuzz::ScratchFile shard(".data-00000-of-00001");
  std::size_t n = 0, at = 0;
  if (size >= 4) {
    std::uint32_t len = 0;
    std::memcpy(&len, data, 4);
    at = 4;
    n = std::min<std::size_t>(len, size - 4);
  }
  shard.write(data + at, n);
  const std::string& path = index.write(data + at + n, size - at - n);
  const std::string prefix = path.substr(0, path.size() - 6);
  for (const bool verify : {false, true}) {
    try {
      convdyn::model::TfBundleReadOptions opt;
      opt.verify_checksums = verify;
      const auto b = convdyn::model::read_tf_bundle(prefix, opt);
      for (const auto& e : b.entries) {
        try {
          (void)convdyn::model::read_tf_tensor(b, e);
        } catch (const convdyn::Error&) {
          // expected rejection of one entry
        }
      }
    } catch (const convdyn::Error&) {
      // expected rejection
    }
  }
  (void)convdyn::model::is_tf_bundle(prefix);
  return 0;
}
