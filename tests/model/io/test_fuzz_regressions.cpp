// Replays every input under tests/fixtures/fuzz-regressions/<target>/ through the entry point of the
// libFuzzer target of the same name (fuzz/<target>.cpp), in the ordinary (gcc, unsanitised) build: each
// must either load or be rejected with a convdyn::Error, never crash or throw anything else. The folder
// holds inputs that broke a reader (fixed since) and hand-made nasty ones (see its README.md).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/images.hpp"
#include "model/io/pickle.hpp"
#include "model/io/pth_reader.hpp"
#include "model/io/tf_bundle.hpp"

using namespace convdyn;
using namespace convdyn::model;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The same entry points as the fuzz targets.
void run_unpickle(const std::string& path) {  // fuzz/fuzz_unpickle.cpp
  const std::string bytes = slurp(path);
  const StorageLoader loader = [](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
    if (numel > 10'000'000) throw ValueError("fuzz: storage '" + key + "' too large");
    return at::zeros({numel}, at::TensorOptions().dtype(dtype));
  };
  unpickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), loader, path);
}
void run_pth(const std::string& path) { read_pth(path); }          // fuzz/fuzz_pth.cpp
void run_inputs(const std::string& path) { read_images(path); }    // fuzz/fuzz_inputs.cpp
// fuzz/fuzz_tf_bundle.cpp: uint32 LE shard length n, n shard bytes, the rest the index; read with checksums
// off, then on.
void run_tf_bundle(const std::string& path) {
  const std::string bytes = slurp(path);
  std::uint32_t len = 0;
  std::size_t at = 0;
  if (bytes.size() >= 4) {
    std::memcpy(&len, bytes.data(), 4);
    at = 4;
  }
  const std::size_t n = std::min<std::size_t>(len, bytes.size() - at);
  const std::string prefix =
      (fs::temp_directory_path() / ("convdyn-fuzz-replay-" + fs::path(path).stem().string())).string();
  std::ofstream(prefix + ".data-00000-of-00001", std::ios::binary) << bytes.substr(at, n);
  std::ofstream(prefix + ".index", std::ios::binary) << bytes.substr(at + n);
  for (const bool verify : {false, true}) {
    TfBundleReadOptions opt;
    opt.verify_checksums = verify;
    try {
      const TfBundle b = read_tf_bundle(prefix, opt);
      for (const auto& e : b.entries) {
        try {
          read_tf_tensor(b, e);
        } catch (const convdyn::Error&) {
        }
      }
    } catch (const convdyn::Error&) {
    }
  }
  is_tf_bundle(prefix);
  fs::remove(prefix + ".index");
  fs::remove(prefix + ".data-00000-of-00001");
}

std::vector<std::string> inputs_of(const std::string& target) {
  std::vector<std::string> files;
  const fs::path dir = convdyn::testing::fixture("fuzz-regressions/" + target);
  if (fs::is_directory(dir))
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

void replay(const std::string& target, const std::function<void(const std::string&)>& entry) {
  const auto files = inputs_of(target);
  ASSERT_FALSE(files.empty()) << "no inputs in fuzz-regressions/" << target;
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    try {
      entry(f);
    } catch (const convdyn::Error&) {
      // an expected rejection
    } catch (const std::exception& e) {
      ADD_FAILURE() << f << ": escaped as " << typeid(e).name() << ": " << e.what();
    } catch (...) {
      ADD_FAILURE() << f << ": escaped as a non-std exception";
    }
  }
}

std::string error_of(const std::function<void(const std::string&)>& entry, const std::string& path) {
  try {
    entry(path);
  } catch (const convdyn::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FuzzRegressions, Unpickle) { replay("fuzz_unpickle", run_unpickle); }
TEST(FuzzRegressions, Pth) { replay("fuzz_pth", run_pth); }
TEST(FuzzRegressions, Inputs) { replay("fuzz_inputs", run_inputs); }
TEST(FuzzRegressions, TfBundle) { replay("fuzz_tf_bundle", run_tf_bundle); }

// The specific verdicts of the inputs behind the fixes (see model/io/pickle.cpp and model/io/pth_reader.cpp).
TEST(FuzzRegressions, CyclesAndDeepChainsAreRefused) {
  const auto f = [](const char* name) { return convdyn::testing::fixture(std::string("fuzz-regressions/fuzz_unpickle/") + name); };
  EXPECT_NE(error_of(run_unpickle, f("self_append_cycle.pkl")).find("reference cycle"), std::string::npos);
  EXPECT_NE(error_of(run_unpickle, f("indirect_cycle.pkl")).find("reference cycle"), std::string::npos);
  EXPECT_NE(error_of(run_unpickle, f("dict_key_cycle.pkl")).find("reference cycle"), std::string::npos);
  EXPECT_NE(error_of(run_unpickle, f("deep_chain_through_memo.pkl")).find("nested deeper than"), std::string::npos);
  const std::string pth = convdyn::testing::fixture("fuzz-regressions/fuzz_pth/pickle_cycle.pth");
  EXPECT_NE(error_of(run_pth, pth).find("reference cycle"), std::string::npos);
}

TEST(FuzzRegressions, BadVersionRecordIsAnIoError) {
  const std::string f = convdyn::testing::fixture("fuzz-regressions/fuzz_pth/version_out_of_range.pth");
  EXPECT_THROW(read_pth(f), IoError);
}
