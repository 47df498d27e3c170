// Resource limits of the .pth reader (issue 9): a zip entry whose declared size the file cannot hold is
// refused before LibTorch's zip reader allocates it, fast and with a one-line error; the in-memory entry
// point (used by fuzz/fuzz_pth.cpp) reads exactly what the file one reads.
// Fixtures: tests/fixtures/make_oversized_zips.py.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/pth_reader.hpp"

using namespace convdyn;
using namespace convdyn::model;
using convdyn::testing::fixture;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

PyRef read_buffer(const std::string& bytes, const std::string& name = "<buffer>") {
  return read_pth(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
}

// The IoError message of read_pth(path) and the seconds it took to refuse the file.
std::pair<std::string, double> refusal_of(const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string msg;
  try {
    read_pth(path);
  } catch (const IoError& e) {
    msg = e.what();
  }
  return {msg, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

void expect_same(const PyRef& a, const PyRef& b) {
  ASSERT_EQ(a->kind, PyKind::Dict);
  ASSERT_EQ(a->entries.size(), b->entries.size());
  for (std::size_t i = 0; i < a->entries.size(); ++i) {
    EXPECT_EQ(a->entries[i].first->s, b->entries[i].first->s);
    EXPECT_TRUE(at::equal(a->entries[i].second->tensor, b->entries[i].second->tensor)) << a->entries[i].first->s;
  }
}

}  // namespace

// data.pkl declared (zip64 extra field) as a stored entry of 100 GB. Without the check LibTorch tries to
// allocate the 100 GB (and fails, or succeeds on an overcommitting machine and reads past the file).
TEST(PthLimits, ZipEntryClaiming100GbIsRefusedInMilliseconds) {
  const std::string f = fixture("bad_zip_entry_100gb.pth");
  const auto [msg, seconds] = refusal_of(f);
  EXPECT_NE(msg.find(f), std::string::npos) << msg;
  EXPECT_NE(msg.find("zip entry 'cordsnet_d2_plain/data.pkl' declares 100000000000 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("more than the file of 4819 bytes can hold"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_LT(seconds, 1.0);
}

// A storage record declared deflated, 392 bytes expanding to 4 GB - 1. Without the check LibTorch
// allocates and fills 4 GB (measured: 48 s and 4.3 GB of memory for this 4.8 KB file) before the load.
TEST(PthLimits, DeflatedEntryBeyondDeflatesRatioIsRefused) {
  const std::string f = fixture("bad_zip_entry_deflate4gb.pth");
  const auto [msg, seconds] = refusal_of(f);
  EXPECT_NE(msg.find("zip entry 'cordsnet_d2_plain/data/0' declares 4294967294 bytes (392 stored)"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_LT(seconds, 1.0);
}

// The same checkpoint with every size moved to zip64 extra fields (true values) still loads.
TEST(PthLimits, Zip64ExtraFieldSizesAreRead) {
  expect_same(read_pth(fixture("zip64_sizes.pth")), read_pth(fixture("cordsnet_d2_plain.pth")));
}

TEST(PthLimits, InMemoryReadMatchesTheFile) {
  for (const char* f : {"cordsnet_d4_param_module.pth", "cordsnet_d4_proto4.pth", "cordsnet_d2_float64.pth"}) {
    SCOPED_TRACE(f);
    expect_same(read_buffer(slurp(fixture(f))), read_pth(fixture(f)));
  }
}

TEST(PthLimits, InMemoryErrorsNameTheBufferAndAreOneLine) {
  const std::string good = slurp(fixture("cordsnet_d2_plain.pth"));
  const auto error_of = [](const std::string& bytes) -> std::string {
    try {
      read_buffer(bytes, "<buffer>");
    } catch (const IoError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(error_of(""), "<buffer>: file is empty");
  // Every prefix of a good checkpoint: the end records are gone, so each is refused (never read past the end).
  for (std::size_t n : {std::size_t{4}, std::size_t{30}, good.size() / 2, good.size() - 23, good.size() - 1}) {
    const std::string msg = error_of(good.substr(0, n));
    EXPECT_EQ(msg.rfind("<buffer>: ", 0), 0u) << n << ": " << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << n << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << n << ": " << msg;
  }
  const std::string oversized = slurp(fixture("bad_zip_entry_100gb.pth"));
  EXPECT_NE(error_of(oversized).find("declares 100000000000 bytes"), std::string::npos);
}

// fuzz/fuzz_pth.cpp reads from memory (tests/model/io/test_fuzz_regressions.cpp replays its inputs through the
// file path): every committed input and every .pth fixture must load or be refused with a convdyn::Error,
// and both paths must agree on which.
TEST(PthLimits, InMemoryAndFilePathsAgreeOnEveryInput) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(fixture("fuzz-regressions/fuzz_pth")))
    if (e.is_regular_file()) files.push_back(e.path().string());
  for (const auto& e : fs::directory_iterator(fixture("")))
    if (e.path().extension() == ".pth") files.push_back(e.path().string());
  ASSERT_GT(files.size(), 20u);
  const auto verdict = [](const std::function<void()>& f) -> std::string {
    try {
      f();
      return "ok";
    } catch (const convdyn::Error& e) {
      return std::string("refused: ") + e.what();
    } catch (const std::exception& e) {
      return std::string("ESCAPED: ") + e.what();
    }
  };
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const std::string bytes = slurp(f);
    const std::string from_memory = verdict([&] { read_buffer(bytes, f); });
    const std::string from_file = verdict([&] { read_pth(f); });
    EXPECT_EQ(from_memory.rfind("ESCAPED", 0), std::string::npos) << from_memory;
    EXPECT_EQ(from_memory, from_file);
  }
}
