// Class labels (model/io/images.hpp, read_labels): IDX, .npy and text, selections, and bad files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "fixture_path.hpp"
#include "linalg/error.hpp"
#include "model/io/images.hpp"

using namespace convdyn;
using namespace convdyn::model;

namespace {
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string idx1(const std::vector<unsigned char>& labels, std::uint32_t claimed) {
  std::string s = {0, 0, 8, 1, static_cast<char>(claimed >> 24), static_cast<char>(claimed >> 16),
                   static_cast<char>(claimed >> 8), static_cast<char>(claimed)};
  s.append(labels.begin(), labels.end());
  return s;
}

std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + data;
}

std::vector<std::int64_t> values(const at::Tensor& t) {
  EXPECT_EQ(t.scalar_type(), at::kLong);
  const auto* p = t.data_ptr<std::int64_t>();
  return {p, p + t.numel()};
}

template <class E>
void expect_error(const std::string& path, const std::string& what, const InputOptions& opt = {}) {
  try {
    read_labels(path, opt);
    ADD_FAILURE() << path << ": no exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "'" << what << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << ": wrong exception type: " << e.what();
  }
}
}  // namespace

TEST(Labels, IdxRawAndGzipNpyAndTextAgree) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_labels");
  const std::vector<unsigned char> want = {9, 2, 1, 1, 6, 0, 7};
  const auto raw = (dir / "l.idx").string();
  write_bytes(raw, idx1(want, 7));
  const auto gz = (dir / "l.idx.gz").string();
  {
    gzFile g = gzopen(gz.c_str(), "wb");
    const auto s = idx1(want, 7);
    gzwrite(g, s.data(), static_cast<unsigned>(s.size()));
    gzclose(g);
  }
  const auto txt = (dir / "l.txt").string();
  write_bytes(txt, "9 2\n1\t1 6\n0 7\n");
  std::string i8;
  for (auto v : want) {
    std::int64_t x = v;
    i8.append(reinterpret_cast<const char*>(&x), 8);
  }
  const auto n8 = (dir / "l8.npy").string();
  write_bytes(n8, npy("<i8", "(7,)", i8));
  const auto n1 = (dir / "l1.npy").string();
  write_bytes(n1, npy("|u1", "(7,)", std::string(want.begin(), want.end())));
  const std::vector<std::int64_t> expect(want.begin(), want.end());
  for (const auto& p : {raw, gz, txt, n8, n1}) EXPECT_EQ(values(read_labels(p)), expect) << p;
  InputOptions sel;
  sel.offset = 2;
  sel.limit = 3;
  EXPECT_EQ(values(read_labels(gz, sel)), (std::vector<std::int64_t>{1, 1, 6}));
  sel.limit = 100;  // clamped, as for images
  EXPECT_EQ(values(read_labels(txt, sel)).size(), 5u);
}

TEST(Labels, BadFiles) {
  const auto dir = convdyn::testing::fresh_out_dir("convdyn_labels_bad");
  auto file = [&](const std::string& name, const std::string& bytes) {
    const auto p = (dir / name).string();
    write_bytes(p, bytes);
    return p;
  };
  expect_error<IoError>((dir / "missing").string(), "no such file");
  expect_error<IoError>(file("empty", ""), "empty");
  expect_error<IoError>(file("trunc.idx", idx1({1, 2}, 5)), "truncated");
  expect_error<ValueError>(file("images.idx", std::string("\0\0\x08\x03\0\0\0\1", 8)), "not an IDX label file");
  expect_error<ValueError>(file("neg.txt", "1 -2 3"), "'-2'");
  expect_error<ValueError>(file("float.txt", "1 2.5 3"), "'2.5'");
  expect_error<IoError>(file("bin", "\x7f" "ELF"), "unknown label file format");
  expect_error<ValueError>(file("2d.npy", npy("|u1", "(2, 2)", "\1\2\3\4")), "1-D");
  expect_error<IoError>(file("f.npy", npy("<f8", "(1,)", std::string(8, '\0'))), "unsupported .npy label dtype");
  std::string neg(8, '\xff');  // int64 -1
  expect_error<ValueError>(file("neg.npy", npy("<i8", "(1,)", neg)), "must be >= 0");
  InputOptions off;
  off.offset = 3;
  expect_error<ValueError>(file("three.txt", "1 2 3"), "out of range", off);
}
