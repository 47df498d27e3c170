// Replays every input under tests/fixtures/fuzz-regressions/<target>/ through the entry point of the
// libFuzzer target of the same name (fuzz/<target>.cpp), in the ordinary (gcc, unsanitised) build: each
// must either load or be rejected with a convdyn::Error, never crash or throw anything else. The folder
// holds inputs that broke a reader (fixed since) and hand-made nasty ones (see its README.md).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/inputs.hpp"
#include "model/pickle.hpp"
#include "model/pth_reader.hpp"

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

// The specific verdicts of the inputs behind the fixes (see model/pickle.cpp and model/pth_reader.cpp).
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
