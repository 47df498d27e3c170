#include <gtest/gtest.h>
#include <hdf5.h>

#include <complex>
#include <filesystem>

#include "fixture_path.hpp"
#include "analysis/results.hpp"
#include "linalg/error.hpp"

using namespace convdyn;
using namespace convdyn::analysis;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(const char* name) { return convdyn::testing::fresh_out_dir(name); }

LayerSpectrum sample() {
  LayerSpectrum s;
  s.layer.name = "area_conv.1";
  s.layer.n = 2 * 2 * 3;
  s.layer.channels = 2;
  s.layer.height = 2;
  s.layer.width = 3;
  s.layer.kernel = 3;
  s.layer.parametrisation = "plain";
  s.result.values.resize(3);
  s.result.values << std::complex<double>(1.5, 0.25), std::complex<double>(1.5, -0.25), 0.75;
  s.result.residuals = Eigen::Vector3d(1e-13, 1e-13, 2e-14);
  s.result.converged = Eigen::Matrix<bool, 3, 1>(true, true, false);
  s.result.vectors = Eigen::MatrixXcd::Zero(12, 1);
  s.result.vectors(5, 0) = std::complex<double>(0.5, -2.0);
  s.result.method = "dense";
  s.result.which = linalg::Which::LR;
  return s;
}

std::string read_string_attr(hid_t obj, const char* name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  std::string s(H5Tget_size(t), '\0');
  H5Aread(a, t, s.data());
  H5Tclose(t);
  H5Aclose(a);
  return s.substr(0, s.find('\0'));
}
}  // namespace

TEST(Results, WritesTheDocumentedSchema) {
  const auto dir = fresh_dir("convdyn_results_ok");
  const auto path = (dir / "r.h5").string();
  {
    ResultsWriter w(path, false, RunInfo{"ckpt.pth", "abc123", "CordsNet (depth 2)", "convdyn spectrum x"});
    w.write_layer(sample());
    w.commit();
  }
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temp left
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  long long version = 0;
  hid_t a = H5Aopen(f, "schema_version", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_LLONG, &version);
  H5Aclose(a);
  EXPECT_EQ(version, kSchemaVersion);
  EXPECT_EQ(read_string_attr(f, "checkpoint_sha256"), "abc123");
  EXPECT_EQ(read_string_attr(f, "command_line"), "convdyn spectrum x");
  EXPECT_EQ(read_string_attr(f, "created_utc").size(), 20u);
  hid_t g = H5Gopen2(f, "/layers/area_conv.1", H5P_DEFAULT);
  ASSERT_GE(g, 0);
  EXPECT_EQ(read_string_attr(g, "which"), "LR");
  EXPECT_EQ(read_string_attr(g, "method"), "dense");
  // eigenvalues: compound {r, i} of f64, in the order given.
  hid_t ds = H5Dopen2(g, "eigenvalues", H5P_DEFAULT);
  hid_t t = H5Dget_type(ds);
  EXPECT_EQ(H5Tget_class(t), H5T_COMPOUND);
  EXPECT_EQ(H5Tget_nmembers(t), 2);
  EXPECT_EQ(H5Tget_member_index(t, "r"), 0);
  EXPECT_EQ(H5Tget_member_index(t, "i"), 1);
  std::complex<double> z[3];
  H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, z);
  EXPECT_EQ(z[1], std::complex<double>(1.5, -0.25));
  EXPECT_EQ(z[2], std::complex<double>(0.75, 0));
  H5Tclose(t);
  H5Dclose(ds);
  std::uint8_t conv[3];
  ds = H5Dopen2(g, "converged", H5P_DEFAULT);
  H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, conv);
  H5Dclose(ds);
  EXPECT_EQ(conv[0], 1);
  EXPECT_EQ(conv[2], 0);
  // eigenvectors [p, C, H, W]; element 5 of vector 0 is (c=0, h=1, w=2).
  ds = H5Dopen2(g, "eigenvectors", H5P_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[4];
  ASSERT_EQ(H5Sget_simple_extent_ndims(sp), 4);
  H5Sget_simple_extent_dims(sp, dims, nullptr);
  EXPECT_EQ(dims[0], 1u);
  EXPECT_EQ(dims[1], 2u);
  EXPECT_EQ(dims[3], 3u);
  std::vector<std::complex<double>> v(12);
  t = H5Dget_type(ds);
  H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  EXPECT_EQ(v[5], std::complex<double>(0.5, -2.0));
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(ds);
  H5Gclose(g);
  H5Fclose(f);
}

TEST(Results, NoFileWhenNotCommitted) {
  const auto dir = fresh_dir("convdyn_results_abort");
  const auto path = (dir / "r.h5").string();
  {
    ResultsWriter w(path, false, RunInfo{});
    w.write_layer(sample());
  }  // e.g. an exception during a later layer
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 0);
}

TEST(Results, RefusesToOverwriteWithoutForce) {
  const auto dir = fresh_dir("convdyn_results_force");
  const auto path = (dir / "r.h5").string();
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fputs("old", f); std::fclose(f); }
  EXPECT_THROW(ResultsWriter(path, false, RunInfo{}), IoError);
  ResultsWriter w(path, true, RunInfo{});
  w.commit();
  EXPECT_GT(fs::file_size(path), 3u);
}

TEST(Results, UnwritableDestinationFailsAtOnce) {
  EXPECT_THROW(ResultsWriter("/nonexistent-dir/r.h5", false, RunInfo{}), IoError);
  // /proc accepts no new files, even for root.
  EXPECT_THROW(ResultsWriter("/proc/convdyn-results.h5", false, RunInfo{}), IoError);
}

TEST(Results, NestedGroupsWithAttributesAndDatasets) {
  const auto dir = fresh_dir("convdyn_results_groups");
  const auto path = (dir / "r.h5").string();
  {
    ResultsWriter w(path, false, RunInfo{});
    auto g = w.group("stability/area_conv.0");
    g.attr("verdict", "STABLE");
    g.attr("margin", 0.25);
    g.attr("contraction", true);
    auto in = g.group("inputs").group("0");
    in.dataset("eigenvalues", Eigen::VectorXcd(Eigen::VectorXcd::Constant(2, std::complex<double>(0.5, 0.125))));
    in.dataset("residuals", Eigen::VectorXd(Eigen::VectorXd::Constant(2, 1e-12)));
    auto again = w.group("stability");  // reopening an existing group
    again.attr("verdict", "STABLE");
    w.commit();  // groups still open: the file must be complete anyway
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t g = H5Gopen2(f, "/stability/area_conv.0", H5P_DEFAULT);
  ASSERT_GE(g, 0);
  EXPECT_EQ(read_string_attr(g, "verdict"), "STABLE");
  double margin = 0;
  hid_t a = H5Aopen(g, "margin", H5P_DEFAULT);
  H5Aread(a, H5T_NATIVE_DOUBLE, &margin);
  H5Aclose(a);
  EXPECT_EQ(margin, 0.25);
  hid_t ds = H5Dopen2(f, "/stability/area_conv.0/inputs/0/eigenvalues", H5P_DEFAULT);
  ASSERT_GE(ds, 0);
  hid_t t = H5Dget_type(ds);
  std::complex<double> z[2];
  H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, z);
  EXPECT_EQ(z[1], std::complex<double>(0.5, 0.125));
  H5Tclose(t);
  H5Dclose(ds);
  H5Gclose(g);
  H5Fclose(f);
}

TEST(Results, AppendAddsToAFileOfTheSameCheckpointOnly) {
  const auto dir = fresh_dir("convdyn_results_append");
  const auto path = (dir / "r.h5").string();
  const RunInfo info{"ckpt.pth", "sha-one", "CordsNet (depth 2)", "convdyn spectrum"};
  {
    ResultsWriter w(path, false, info);
    w.write_layer(sample());
    w.commit();
  }
  {
    ResultsWriter w(path, false, info, ResultsWriter::Mode::Append);
    EXPECT_THROW(w.write_layer(sample()), IoError);  // /layers/area_conv.1 is there already
    w.group("stability").attr("verdict", "STABLE");
    w.commit();
  }
  // Another checkpoint's results: refused, and no temporary copy is left behind.
  EXPECT_THROW(ResultsWriter(path, false, RunInfo{"other.pth", "sha-two", "", ""}, ResultsWriter::Mode::Append),
               IoError);
  {
    ResultsWriter w(path, false, info, ResultsWriter::Mode::Append);
    EXPECT_THROW(w.group("stability"), IoError);  // a second /stability
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_GT(H5Lexists(f, "/layers/area_conv.1/eigenvalues", H5P_DEFAULT), 0);
  EXPECT_GT(H5Lexists(f, "/stability", H5P_DEFAULT), 0);
  H5Fclose(f);
  EXPECT_THROW(ResultsWriter((dir / "missing.h5").string(), false, info, ResultsWriter::Mode::Append), IoError);
}
