// The convdyn binary on the ConvRNN zoo / TensorFlow-bundle path: bad inputs give exit 2 and one line on
// stderr naming the file, no stack trace, no results file left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/cli_runner.hpp"
#include "fixture_path.hpp"

using convdyn::testing::CliRun;
using convdyn::testing::fixture;
using convdyn::testing::run_cli;
namespace fs = std::filesystem;

namespace {

const std::string kGru = fixture("convrnn/gru_shallow/model.ckpt");
const std::string kRgcI = fixture("convrnn/rgc_intermediate/model.ckpt");

// Exit 2, exactly one stderr line "convdyn: error: ...", containing every needle, no LibTorch trace.
void expect_one_line_error(const CliRun& r, const std::string& what, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.code, 2) << what << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << "\n" << r.err;
  EXPECT_EQ(r.err.rfind("convdyn: error: ", 0), 0u) << what << "\n" << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "expected '" << n << "' in: " << r.err;
  EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
}

// A float64 .npy (format 1.0, C order) of the given shape, all zeros.
void write_npy(const fs::path& p, const std::vector<int64_t>& shape) {
  std::string dims;
  int64_t count = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ", ";
    count *= d;
  }
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(p, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.put(static_cast<char>(len & 0xff));
  f.put(static_cast<char>(len >> 8));
  f << header;
  const std::vector<double> zeros(static_cast<size_t>(count), 0.0);
  f.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(zeros.size() * sizeof(double)));
}

}  // namespace

// Every file of tests/fixtures/tf_bad (index, data shard, given as it is) is refused by `inspect`.
TEST(CliZoo, EveryBrokenBundleFileGivesOneLineError) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fixture("tf_bad"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 40u);
  for (const auto& f : files) {
    const std::string stem = "tf_bad/" + f.stem().string();  // names the bundle (its .index or .data file)
    expect_one_line_error(run_cli("inspect " + f.string()), f.string(), {stem});
  }
}

// The same bundles given as their prefix (tf_bad/<name>, the way TensorFlow names a checkpoint).
TEST(CliZoo, BrokenBundlePrefixGivesOneLineError) {
  for (const char* name : {"bad_magic", "block_crc", "tensor_crc", "missing_shard", "truncated_shard",
                           "huge_tensor", "snappy_huge_claim", "zero_shards", "shape_overflow"}) {
    expect_one_line_error(run_cli("inspect " + fixture(std::string("tf_bad/") + name)), name,
                          {std::string("tf_bad/") + name});
  }
}

TEST(CliZoo, DriveOfTheWrongShapeNamesTheFile) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_cli_zoo_drive");
  const auto bad = dir / "drive_bad.npy", good = dir / "drive_good.npy";
  write_npy(bad, {1, 3, 4, 4});   // conv3's x is [3, 5, 5]
  write_npy(good, {1, 3, 5, 5});
  const auto h5 = dir / "r.h5";
  const std::string base = "spectrum " + kGru + " --size 5,5 --layer conv3 --k 2 --quiet --out " + h5.string();
  expect_one_line_error(run_cli(base + " --drive " + bad.string()), "bad drive", {bad.string()});
  EXPECT_FALSE(fs::exists(h5));
  const CliRun ok = run_cli(base + " --drive " + good.string());
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_TRUE(fs::exists(h5));
  fs::remove_all(dir);
}

TEST(CliZoo, UnknownLayerListsTheOperators) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_cli_zoo_layer");
  const auto h5 = dir / "r.h5";
  const CliRun r = run_cli("spectrum " + kGru + " --size 5,5 --layer conv9 --quiet --out " + h5.string());
  expect_one_line_error(r, "--layer conv9", {"conv9", "conv3", "conv3/gates/r/h", "conv5/candidates/h"});
  EXPECT_FALSE(fs::exists(h5));
  fs::remove_all(dir);
}

// rgc_intermediate conv6: h has 3 channels, c 2: out_to_cell (h -> c) and out/gate (c -> h) are not square.
TEST(CliZoo, NonSquareRgcPartIsRefused) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_cli_zoo_nonsquare");
  const auto h5 = dir / "r.h5";
  for (const char* part : {"conv6/cell/out_to_cell", "conv6/out/gate"}) {
    const CliRun r = run_cli("spectrum " + kRgcI + " --size 5,5 --layer " + part + " --quiet --out " + h5.string());
    expect_one_line_error(r, part, {part, "square"});
    EXPECT_FALSE(fs::exists(h5));
  }
  // ... while the square part of the same layer has one
  const CliRun sq = run_cli("spectrum " + kRgcI + " --size 5,5 --layer conv6/out/tau --k 2 --quiet");
  EXPECT_EQ(sq.code, 0) << sq.err;
  fs::remove_all(dir);
}

TEST(CliZoo, UnwritableOutIsRefusedAndWritesNothing) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_cli_zoo_out");
  const auto h5 = dir / "missing_folder" / "r.h5";
  const CliRun r = run_cli("spectrum " + kGru + " --size 5,5 --layer conv3 --k 2 --quiet --out " + h5.string());
  expect_one_line_error(r, "--out in a missing folder", {h5.string()});
  EXPECT_FALSE(fs::exists(h5));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0) << "left a file behind";
  // a results path that is an existing folder
  const CliRun r2 = run_cli("spectrum " + kGru + " --size 5,5 --layer conv3 --k 2 --quiet --force --out " + dir.string());
  EXPECT_EQ(r2.code, 2) << r2.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0) << "left a file behind";
  fs::remove_all(dir);
}
