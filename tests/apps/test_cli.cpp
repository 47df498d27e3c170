// The convdyn binary end to end: exit codes, one-line errors, no half-written results files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <hdf5.h>

#include "apps/cli_runner.hpp"
#include "fixture_path.hpp"

using convdyn::testing::CliRun;
using convdyn::testing::fixture;
using convdyn::testing::run_cli;
namespace fs = std::filesystem;

namespace {

fs::path out_dir() { return convdyn::testing::fresh_out_dir("convdyn_cli_out"); }

// A bad-input run: exit code 2, exactly one line on stderr that names `needle`, no results file.
void expect_one_line_error(const std::string& args, const std::string& needle) {
  const auto dir = out_dir();
  const auto h5 = dir / "r.h5";
  const CliRun r = run_cli(args + " --out " + h5.string());
  EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("convdyn: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
  EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << r.err;  // no LibTorch trace
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0) << "left a file behind";
  fs::remove_all(dir);
}
}  // namespace

TEST(Cli, HelpExplainsEveryCommand) {
  for (const char* c : {"", "inspect ", "spectrum ", "stability ", "pseudospectrum ", "run "}) {
    const CliRun r = run_cli(std::string(c) + "--help");
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << c << r.out;
  }
  EXPECT_NE(run_cli("spectrum --help").out.find("--which"), std::string::npos);
  EXPECT_NE(run_cli("stability --help").out.find("--transient-steps"), std::string::npos);
  // Pseudospectra need the dense size: the help says so, and what bounds larger layers instead.
  const auto ps = run_cli("pseudospectrum --help").out;
  EXPECT_NE(ps.find("Needs the dense size"), std::string::npos) << ps;
  EXPECT_NE(ps.find("numerical abscissa omega(W)"), std::string::npos) << ps;
  EXPECT_NE(run_cli("--help").out.find("pseudospectrum"), std::string::npos);
  const auto run = run_cli("run --help").out;
  EXPECT_NE(run.find("--record"), std::string::npos) << run;
  EXPECT_NE(run.find("deepest first"), std::string::npos) << run;
}

TEST(Cli, InspectListsTheRecurrentOperators) {
  const CliRun r = run_cli("inspect " + fixture("cordsnet_d4_legacy_train.pth"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("CordsNet (depth 4)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("area_conv.3"), std::string::npos);
  EXPECT_NE(r.out.find("weight_g/weight_v"), std::string::npos);
  EXPECT_NE(r.out.find("state_dict"), std::string::npos);
}

TEST(Cli, SpectrumWritesResultsAndRefusesToOverwrite) {
  const auto dir = out_dir();
  const auto h5 = (dir / "r.h5").string();
  const std::string args = "spectrum " + fixture("cordsnet_d4_param_module.pth") + " --layer area_conv.2 --k 4 --out " + h5;
  CliRun r = run_cli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(h5));
  EXPECT_NE(r.out.find("area_conv.2"), std::string::npos);
  r = run_cli(args);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli(args + " --force").code, 0);
  fs::remove_all(dir);
}

TEST(Cli, GenericKernelNeedsASize) {
  const auto ck = fixture("generic_kernels.pth");
  EXPECT_EQ(run_cli("spectrum " + ck + " --layer rnn.weight --size 4,5 --k 3").code, 0);
  expect_one_line_error("spectrum " + ck + " --layer rnn.weight", "--size");
}

TEST(Cli, BadInputsGiveOneLineErrors) {
  const std::string sp = "spectrum --all --method dense ";
  expect_one_line_error(sp + fixture("no_such_file.pth"), "no such file");
  expect_one_line_error(sp + fixture("bad_random_bytes.pth"), "not a PyTorch checkpoint");
  expect_one_line_error(sp + fixture("bad_truncated.pth"), "truncated");
  expect_one_line_error(sp + fixture("bad_legacy_format.pth"), "legacy");
  expect_one_line_error(sp + fixture("bad_nan_weights.pth"), "NaN");
  expect_one_line_error(sp + fixture("bad_inf_bias.pth"), "Inf");
  expect_one_line_error(sp + fixture("bad_even_kernel.pth"), "even");
  expect_one_line_error(sp + fixture("bad_forbidden_global.pth"), "posix.system");
  expect_one_line_error(sp + fixture("bad_no_state_dict.pth"), "no state dict");
  expect_one_line_error("spectrum " + fixture("cordsnet_d4_param_module.pth") + " --layer area_conv.7",
                        "area_conv.0, area_conv.1, area_conv.2, area_conv.3");
  expect_one_line_error("spectrum " + fixture("generic_kernels.pth") + " --layer nonsquare.weight --size 4,4",
                        "not a recurrent kernel");
  expect_one_line_error("spectrum " + fixture("generic_kernels.pth") + " --layer rect.weight --size 4,4",
                        "non-square");
  expect_one_line_error("spectrum " + fixture("generic_kernels.pth") + " --layer vector --size 4,4", "4-D");
}

TEST(Cli, UnwritableOutputFailsBeforeComputing) {
  const CliRun r = run_cli("spectrum " + fixture("cordsnet_d4_param_module.pth") + " --all --out /nonexistent-dir/r.h5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent-dir/r.h5"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("area_conv.0  ("), std::string::npos) << "computed before checking the output";
}

TEST(Cli, DenseSizeGuardExplainsTheCost) {
  const CliRun r = run_cli("spectrum " + fixture("generic_kernels.pth") + " --layer rnn.weight --size 200,200 --method dense");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("GB"), std::string::npos) << r.err;
}

TEST(Cli, StabilityNamesTheUnstableAreaAndExitsNonZero) {
  const CliRun r = run_cli("stability -q " + fixture("cordsnet_d4_unstable.pth"));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.out.find("area_conv.2   UNSTABLE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model: UNSTABLE"), std::string::npos) << r.out;
  // The three levels apart: area 2's linear regime grows while its fixed point is locally stable; area 1 has
  // the global certificate ||W||_2 < 1; the model has none (not every area has).
  EXPECT_NE(r.out.find("area_conv.2   none         UNSTABLE       STABLE        UNSTABLE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("area_conv.1   STABLE       STABLE         STABLE        STABLE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model: UNSTABLE (global certificate: none; linear regime: UNSTABLE; fixed points: STABLE)"),
            std::string::npos) << r.out;
  const CliRun ok = run_cli("stability -q " + fixture("cordsnet_d4_lm_lr.pth"));
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("model: STABLE"), std::string::npos) << ok.out;
}

TEST(Cli, StabilityOnImagesWritesPerInputResults) {
  const auto dir = out_dir();
  const auto h5 = (dir / "s.h5").string();
  const CliRun r = run_cli("stability -q " + fixture("cordsnet_d4_lm_lr.pth") + " --inputs " +
                           fixture("inputs/u8_nchw.npy") + " --limit 2 --out " + h5);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("image 1"), std::string::npos) << r.out;
  hid_t f = H5Fopen(h5.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_GT(H5Lexists(f, "/stability/area_conv.3/inputs/2/discrete/eigenvalues", H5P_DEFAULT), 0);
  H5Fclose(f);
  fs::remove_all(dir);
}

TEST(Cli, StabilityRejectsImagesOfTheWrongSize) {
  expect_one_line_error("stability " + fixture("cordsnet_d4_lm_lr.pth") + " --inputs " +
                            fixture("inputs/mnist-images-idx3-ubyte"),
                        "28x28");
}
