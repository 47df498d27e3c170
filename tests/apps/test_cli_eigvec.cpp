// `convdyn eigvec` end to end: the table, the eigenvectors in the results file, exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <hdf5.h>

#include "apps/cli_runner.hpp"
#include "fixture_path.hpp"

using convdyn::testing::CliRun;
using convdyn::testing::fixture;
using convdyn::testing::run_cli;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir() { return convdyn::testing::fresh_out_dir("convdyn_eigvec_out"); }

/// Dimensions of a dataset, or empty when it cannot be opened.
std::vector<hsize_t> dataset_shape(const std::string& file, const std::string& name) {
  std::vector<hsize_t> dims;
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return dims;
  const hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  if (d >= 0) {
    const hid_t s = H5Dget_space(d);
    dims.resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(s)));
    H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    H5Sclose(s);
    H5Dclose(d);
  }
  H5Fclose(f);
  return dims;
}
}  // namespace

TEST(CliEigvec, HelpExplainsTheMethodAndOptions) {
  const CliRun r = run_cli("eigvec --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"Usage", "power iteration", "--count", "--trials", "--tol", "--max-iters", "--seed",
                        "--dtype", "--no-fallback", "--out", "--force", "--quiet", "--key", "--size", "--padding"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(CliEigvec, WritesEigenvectorsOfTheLayerShape) {
  const auto dir = fresh_dir();
  const auto h5 = (dir / "v.h5").string();
  const CliRun r = run_cli("eigvec " + fixture("cordsnet_d4_param_module.pth") +
                              " --layer area_conv.1 --count 2 --quiet --out " + h5);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet, converged
  EXPECT_TRUE(fs::exists(h5));
  EXPECT_NE(r.out.find("area_conv.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("C=3 H=8 W=8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + h5), std::string::npos) << r.out;
  // Two table rows, both converged.
  EXPECT_NE(r.out.find("\n     0  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n     1  "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" NO "), std::string::npos) << r.out;
  EXPECT_EQ(dataset_shape(h5, "/layers/area_conv.1/eigenvectors"), (std::vector<hsize_t>{2, 3, 8, 8}));
  EXPECT_EQ(dataset_shape(h5, "/layers/area_conv.1/eigenvalues"), (std::vector<hsize_t>{2}));
  EXPECT_EQ(dataset_shape(h5, "/layers/area_conv.1/residuals"), (std::vector<hsize_t>{2}));
  // An existing file is not replaced without --force.
  const CliRun again = run_cli("eigvec " + fixture("cordsnet_d4_param_module.pth") +
                                  " --layer area_conv.1 --quiet --out " + h5);
  EXPECT_EQ(again.code, 2) << again.err;
  EXPECT_EQ(run_cli("eigvec " + fixture("cordsnet_d4_param_module.pth") +
                    " --layer area_conv.1 --quiet --force --out " + h5).code, 0);
  fs::remove_all(dir);
}

TEST(CliEigvec, BadLayerIsAOneLineError) {
  const auto dir = fresh_dir();
  const CliRun r = run_cli("eigvec " + fixture("cordsnet_d4_param_module.pth") + " --layer nope --out " +
                              (dir / "r.h5").string());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("convdyn: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0) << "left a file behind";
  fs::remove_all(dir);
}

TEST(CliEigvec, InvalidCountIsAOneLineError) {
  const CliRun r = run_cli("eigvec " + fixture("cordsnet_d4_param_module.pth") + " --layer area_conv.1 --count 0");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("count=0"), std::string::npos) << r.err;
}

TEST(CliEigvec, UnconvergedExitsThreeUnlessAllowed) {
  const std::string base = "eigvec " + fixture("cordsnet_d4_param_module.pth") +
                           " --layer area_conv.1 --max-iters 1 --no-fallback --quiet";
  const CliRun r = run_cli(base);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find(" NO "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("did not converge"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli(base + " --allow-unconverged").code, 0);
}
