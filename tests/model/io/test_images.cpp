// Image inputs (model/io/images.hpp) against the closed-form fixtures of tests/fixtures/make_input_fixtures.py.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/images.hpp"

using namespace convdyn;
using namespace convdyn::model;

namespace fs = std::filesystem;

namespace {

std::string input(const std::string& name) { return convdyn::testing::fixture("inputs/" + name); }

// The fixture formulas (see make_input_fixtures.py).
double u8(std::int64_t k, std::int64_t i, std::int64_t j) { return static_cast<double>((k * 31 + i * 7 + j * 3) % 256); }
double f64(std::int64_t k, std::int64_t c, std::int64_t i, std::int64_t j) {
  return static_cast<double>((k * 31 + c * 57 + i * 7 + j * 3) % 256) / 16.0 - 8.0;
}

/// [n, c, h, w] float64 with value(k, c, i, j) for images first..first+n-1.
at::Tensor expected(std::int64_t first, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                    const std::function<double(std::int64_t, std::int64_t, std::int64_t, std::int64_t)>& value) {
  at::Tensor t = at::empty({n, c, h, w}, at::TensorOptions().dtype(at::kDouble));
  auto a = t.accessor<double, 4>();
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t cc = 0; cc < c; ++cc)
      for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) a[k][cc][i][j] = value(first + k, cc, i, j);
  return t;
}

auto u8_over_255 = [](std::int64_t k, std::int64_t, std::int64_t i, std::int64_t j) { return u8(k, i, j) / 255.0; };
auto u8_plain = [](std::int64_t k, std::int64_t, std::int64_t i, std::int64_t j) { return u8(k, i, j); };

void expect_exact(const at::Tensor& got, const at::Tensor& want) {
  ASSERT_EQ(got.scalar_type(), at::kDouble);
  ASSERT_TRUE(got.is_contiguous());
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(at::equal(got, want)) << "max |diff| = " << (got - want).abs().max().item<double>();
}

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("convdyn_inputs_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Runs read_images and checks the error: its type, one line, starting with the path, containing `what`.
template <class E>
void expect_error(const std::string& path, const std::string& what, const InputOptions& opt = {}) {
  try {
    read_images(path, opt);
    ADD_FAILURE() << path << ": no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    if (std::getenv("CONVDYN_PRINT_ERRORS")) std::cout << msg << "\n";  // to review the messages
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "'" << what << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": wrong exception type: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Every format round-trips to the formula values.
// ---------------------------------------------------------------------------------------------------------

TEST(Inputs, NpyUint8IsDividedBy255) {
  expect_exact(read_images(input("u8_nchw.npy")), expected(0, 5, 1, 32, 32, u8_over_255));
}

TEST(Inputs, NpyFloat32ThreeDimsGetsOneChannelAndIsUnchanged) {
  const auto x = read_images(input("f32_nhw.npy"));
  expect_exact(x, expected(0, 5, 1, 16, 32, u8_plain));
  // scale = 1/255 gives the uint8 file's values (up to the rounding of 1/255).
  InputOptions o;
  o.scale = 1.0 / 255.0;
  const auto y = read_images(input("f32_nhw.npy"), o);
  const auto ref = read_images(input("u8_nchw.npy")).narrow(2, 0, 16);
  EXPECT_LE((y - ref).abs().max().item<double>(), 2e-16);
}

TEST(Inputs, NpyFloat64FortranOrder) {
  expect_exact(read_images(input("f64_fortran.npy")), expected(0, 3, 2, 8, 6, f64));
}

TEST(Inputs, Hdf5PicksTheOnlyImageDataset) {
  auto quarter = [](std::int64_t k, std::int64_t, std::int64_t i, std::int64_t j) { return u8(k, i, j) / 4.0; };
  expect_exact(read_images(input("images.h5")), expected(0, 5, 1, 32, 32, quarter));
  InputOptions o;
  o.dataset = "/images";
  expect_exact(read_images(input("images.h5"), o), expected(0, 5, 1, 32, 32, quarter));
}

TEST(Inputs, Hdf5NamedDatasetsInGroups) {
  InputOptions o;
  o.dataset = "group/x";  // uint8 [2,3,3]
  expect_exact(read_images(input("ambiguous.h5"), o), expected(0, 2, 1, 3, 3, u8_over_255));
  o.dataset = "a";  // float64 [2,1,3,3]
  expect_exact(read_images(input("ambiguous.h5"), o), expected(0, 2, 1, 3, 3, u8_plain));
}

TEST(Inputs, Hdf5DatasetErrorsListTheCandidates) {
  expect_error<ValueError>(input("ambiguous.h5"), "several image datasets (/a, /group/x)");
  InputOptions o;
  o.dataset = "nope";
  expect_error<ValueError>(input("images.h5"), "no dataset 'nope' (datasets: /images [5, 1, 32, 32] float32, "
                                               "/labels [5] int64)", o);
  o.dataset = "labels";
  expect_error<ValueError>(input("images.h5"), "rank 1", o);
}

TEST(Inputs, MnistIdxRawAndGzip) {
  const auto want = expected(0, 4, 1, 28, 28, u8_over_255);
  expect_exact(read_images(input("mnist-images-idx3-ubyte")), want);
  expect_exact(read_images(input("mnist-images-idx3-ubyte.gz")), want);
}

// ---------------------------------------------------------------------------------------------------------
// Offset and limit.
// ---------------------------------------------------------------------------------------------------------

TEST(Inputs, OffsetAndLimitSelectImages) {
  InputOptions o;
  o.offset = 2;
  o.limit = 2;
  expect_exact(read_images(input("u8_nchw.npy"), o), expected(2, 2, 1, 32, 32, u8_over_255));
  expect_exact(read_images(input("f32_nhw.npy"), o), expected(2, 2, 1, 16, 32, u8_plain));
  auto quarter = [](std::int64_t k, std::int64_t, std::int64_t i, std::int64_t j) { return u8(k, i, j) / 4.0; };
  expect_exact(read_images(input("images.h5"), o), expected(2, 2, 1, 32, 32, quarter));
  expect_exact(read_images(input("mnist-images-idx3-ubyte"), o), expected(2, 2, 1, 28, 28, u8_over_255));
  expect_exact(read_images(input("mnist-images-idx3-ubyte.gz"), o), expected(2, 2, 1, 28, 28, u8_over_255));
  // A limit past the end is clamped.
  o.offset = 1;
  o.limit = 100;
  expect_exact(read_images(input("f64_fortran.npy"), o), expected(1, 2, 2, 8, 6, f64));
  o.offset = 3;
  o.limit = 0;
  expect_exact(read_images(input("mnist-images-idx3-ubyte.gz"), o), expected(3, 1, 1, 28, 28, u8_over_255));
}

TEST(Inputs, OffsetAndLimitOutOfRange) {
  InputOptions o;
  o.offset = 5;
  expect_error<ValueError>(input("u8_nchw.npy"), "offset=5 is out of range: the file holds 5 images", o);
  expect_error<ValueError>(input("images.h5"), "offset=5 is out of range", o);
  o.offset = 4;
  expect_error<ValueError>(input("mnist-images-idx3-ubyte.gz"), "offset=4 is out of range", o);
  o.offset = -1;
  expect_error<ValueError>(input("u8_nchw.npy"), "offset=-1 must be >= 0", o);
  o.offset = 0;
  o.limit = -3;
  expect_error<ValueError>(input("u8_nchw.npy"), "limit=-3 must be >= 0", o);
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation.
// ---------------------------------------------------------------------------------------------------------

TEST(Inputs, PerChannelMeanAndStd) {
  InputOptions o;
  o.mean = {1.0, -2.0};
  o.std = {2.0, 4.0};
  auto norm = [&](std::int64_t k, std::int64_t c, std::int64_t i, std::int64_t j) {
    return (f64(k, c, i, j) - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)];
  };
  expect_exact(read_images(input("f64_fortran.npy"), o), expected(0, 3, 2, 8, 6, norm));
  // One value applies to every channel; scaling comes first.
  InputOptions p;
  p.scale = 2.0;
  p.mean = {0.5};
  p.std = {0.25};
  auto norm1 = [](std::int64_t k, std::int64_t, std::int64_t i, std::int64_t j) {
    return (u8(k, i, j) * 2.0 - 0.5) / 0.25;
  };
  expect_exact(read_images(input("u8_nchw.npy"), p), expected(0, 5, 1, 32, 32, norm1));
}

TEST(Inputs, BadNormalisationOptions) {
  InputOptions o;
  o.mean = {0.1, 0.2, 0.3};
  expect_error<ValueError>(input("f64_fortran.npy"), "mean has 3 values; expected 1 or one per channel (2)", o);
  o.mean = {};
  o.std = {0.0};
  expect_error<ValueError>(input("f64_fortran.npy"), "must be finite and non-zero", o);
  o.std = {};
  o.scale = std::nan("");
  expect_error<ValueError>(input("f64_fortran.npy"), "scale=nan must be finite", o);
}

TEST(Inputs, DescribeNormalisation) {
  InputOptions o;
  EXPECT_EQ(describe_normalisation(o), "uint8 pixels divided by 255, float pixels unchanged");
  o.scale = 0.5;
  o.mean = {0.5, 0.25};
  o.std = {2};
  EXPECT_EQ(describe_normalisation(o),
            "pixels multiplied by 0.5; then (x - mean[c]) / std[c] with mean=[0.5, 0.25], std=[2]");
}

// ---------------------------------------------------------------------------------------------------------
// The format comes from the content, not the name.
// ---------------------------------------------------------------------------------------------------------

TEST(Inputs, FormatIsDetectedFromContent) {
  TempDir dir;
  const auto npy = dir / "images.h5";
  const auto h5 = dir / "data.npy";
  const auto gz = dir / "x.npy";
  const auto idx = dir / "y.h5.gz";
  fs::copy_file(input("u8_nchw.npy"), npy);
  fs::copy_file(input("images.h5"), h5);
  fs::copy_file(input("mnist-images-idx3-ubyte.gz"), gz);
  fs::copy_file(input("mnist-images-idx3-ubyte"), idx);
  expect_exact(read_images(npy), expected(0, 5, 1, 32, 32, u8_over_255));
  EXPECT_EQ(read_images(h5).sizes(), (std::vector<std::int64_t>{5, 1, 32, 32}));
  expect_exact(read_images(gz), expected(0, 4, 1, 28, 28, u8_over_255));
  expect_exact(read_images(idx), expected(0, 4, 1, 28, 28, u8_over_255));
}

// ---------------------------------------------------------------------------------------------------------
// Bad files: one-line errors that start with the path.
// ---------------------------------------------------------------------------------------------------------

TEST(InputsBad, FixtureFiles) {
  expect_error<IoError>(input("no_such_file.npy"), "no such file");
  expect_error<IoError>(input("bad_random.bin"), "unknown file format (first bytes ");
  expect_error<IoError>(input("bad_random.bin"), "accepted: NumPy .npy, HDF5, MNIST IDX images (raw or gzip)");
  expect_error<IoError>(input("bad_truncated.npy"),
                        "truncated: the header claims shape [5, 1, 32, 32] uint8 (5120 bytes of data), the file "
                        "holds 100 after the header");
  expect_error<IoError>(input("bad_object.npy"), "object array (dtype '|O')");
  expect_error<IoError>(input("bad_big_endian.npy"), "big-endian .npy (dtype '>f4')");
  expect_error<IoError>(input("bad_int64.npy"), "unsupported .npy dtype '<i8'");
  expect_error<IoError>(input("bad_complex.npy"), "unsupported .npy dtype '<c16'");
  expect_error<IoError>(input("bad_huge.npy"), "larger than the 4 GiB limit");
  expect_error<ValueError>(input("bad_rank2.npy"), "array of shape [4, 4] has rank 2");
  expect_error<ValueError>(input("bad_empty.npy"), "empty array of shape [0, 1, 2, 2]");
  expect_error<ValueError>(input("bad_nan.npy"), "image 1 holds nan at channel 0, pixel (2, 3)");
  expect_error<ValueError>(input("bad_inf.npy"), "image 0 holds inf at channel 0, pixel (0, 1)");
  expect_error<IoError>(input("bad_truncated-idx3-ubyte"),
                        "truncated: the IDX header claims 4 images of 28x28 (3136 bytes of data), the file holds 500");
  expect_error<ValueError>(input("bad_labels-idx1-ubyte"), "IDX file of rank 1 (magic 0x00000801)");
}

TEST(InputsBad, NanOutsideTheSelectionIsNotAnError) {
  InputOptions o;
  o.limit = 1;
  EXPECT_EQ(read_images(input("bad_nan.npy"), o).abs().sum().item<double>(), 0.0);
}

TEST(InputsBad, MadeInTempDir) {
  TempDir dir;
  const auto empty = dir / "empty.npy";
  write_bytes(empty, "");
  expect_error<IoError>(empty, "file is empty (accepted formats: NumPy .npy");
  expect_error<IoError>(dir / "", "is a directory");

  // Truncated gzip stream.
  const auto gz = read_bytes(input("mnist-images-idx3-ubyte.gz"));
  const auto short_gz = dir / "short-images-idx3-ubyte.gz";
  write_bytes(short_gz, gz.substr(0, gz.size() / 2));
  expect_error<IoError>(short_gz, "truncated");

  // gzip that does not hold an IDX file.
  const auto other_gz = dir / "other.gz";
  {
    gzFile g = gzopen(other_gz.c_str(), "wb");
    ASSERT_NE(g, nullptr);
    gzwrite(g, "hello world", 11);
    gzclose(g);
  }
  expect_error<IoError>(other_gz, "unknown file format (gzip data starting with 68 65 6c 6c)");

  // Truncated HDF5 file and truncated .npy header.
  const auto h5 = read_bytes(input("images.h5"));
  const auto short_h5 = dir / "short.h5";
  write_bytes(short_h5, h5.substr(0, 1500));
  try {
    read_images(short_h5);
    ADD_FAILURE() << "no exception";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    if (std::getenv("CONVDYN_PRINT_ERRORS")) std::cout << msg << "\n";
    EXPECT_EQ(msg.rfind(short_h5 + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  const auto npy = read_bytes(input("u8_nchw.npy"));
  const auto short_npy = dir / "short.npy";
  write_bytes(short_npy, npy.substr(0, 40));
  expect_error<IoError>(short_npy, "truncated .npy header");
  // Version 2.0 header (4-byte length) is accepted.
  std::string v2 = npy.substr(0, 6) + std::string("\x02\x00", 2);
  const std::uint32_t hl = static_cast<unsigned char>(npy[8]) | static_cast<unsigned char>(npy[9]) << 8;
  v2 += std::string{static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8), '\0', '\0'};
  v2 += npy.substr(10);
  const auto npy2 = dir / "v2.npy";
  write_bytes(npy2, v2);
  expect_exact(read_images(npy2), expected(0, 5, 1, 32, 32, u8_over_255));
  // A malformed dict literal.
  std::string bad = npy;
  bad[bad.find("'shape'") + 10] = 'x';
  const auto bad_npy = dir / "bad_header.npy";
  write_bytes(bad_npy, bad);
  expect_error<IoError>(bad_npy, "malformed .npy header");
}
