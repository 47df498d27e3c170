#include "model/io/images.hpp"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "linalg/error.hpp"
#include "model/io/hdf5.hpp"

namespace convdyn::model {

namespace {

constexpr std::uint64_t kMaxBytes = std::uint64_t{4} << 30;  // largest array read_images accepts
constexpr const char* kAccepted = "NumPy .npy, HDF5, MNIST IDX images (raw or gzip)";
// Deflate cannot expand data by more than ~1032:1; bounds what a gzip file can hold.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

enum class DType { U8, F32, F64 };

std::size_t elem_size(DType t) { return t == DType::U8 ? 1 : t == DType::F32 ? 4 : 8; }
at::ScalarType torch_type(DType t) {
  return t == DType::U8 ? at::kByte : t == DType::F32 ? at::kFloat : at::kDouble;
}
const char* dtype_name(DType t) { return t == DType::U8 ? "uint8" : t == DType::F32 ? "float32" : "float64"; }

template <class T>
std::string shape_str(const std::vector<T>& dims) {
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

std::string hex_bytes(const std::string& s, std::size_t n) {
  std::string hex;
  for (std::size_t i = 0; i < std::min(n, s.size()); ++i)
    hex += fmt::format("{}{:02x}", i ? " " : "", static_cast<unsigned char>(s[i]));
  return hex;
}

/// The array as read from the file: its dims (rank 3 or 4) and element type.
struct ArrayInfo {
  std::vector<std::int64_t> dims;
  DType dtype = DType::U8;
};

/// Rank, emptiness and size limit of a claimed array; returns its size in bytes (before any allocation).
std::uint64_t check_array(const std::string& path, const ArrayInfo& a) {
  CONVDYN_CHECK(a.dims.size() == 3 || a.dims.size() == 4, ValueError,
                "{}: array of shape {} has rank {}; expected images [N, C, H, W] or [N, H, W]", path,
                shape_str(a.dims), a.dims.size());
  std::uint64_t bytes = elem_size(a.dtype);
  bool overflow = false;
  for (auto d : a.dims) {
    CONVDYN_CHECK(d >= 0, IoError, "{}: negative dimension in shape {}", path, shape_str(a.dims));
    CONVDYN_CHECK(d > 0, ValueError, "{}: empty array of shape {}", path, shape_str(a.dims));
    const auto ud = static_cast<std::uint64_t>(d);
    if (!overflow && bytes > kMaxBytes / ud) overflow = true;
    if (!overflow) bytes *= ud;
  }
  CONVDYN_CHECK(!overflow && bytes <= kMaxBytes, IoError,
                "{}: array of shape {} {} is larger than the 4 GiB limit", path, shape_str(a.dims),
                dtype_name(a.dtype));
  return bytes;
}

struct Selection {
  std::int64_t first = 0, count = 0;
};

Selection select(const std::string& path, const InputOptions& opt, std::int64_t n) {
  CONVDYN_CHECK(opt.offset < n, ValueError, "{}: offset={} is out of range: the file holds {} images", path,
                opt.offset, n);
  const std::int64_t left = n - opt.offset;
  return {opt.offset, opt.limit == 0 ? left : std::min(opt.limit, left)};
}

void check_options(const std::string& path, const InputOptions& opt) {
  CONVDYN_CHECK(opt.offset >= 0, ValueError, "{}: offset={} must be >= 0", path, opt.offset);
  CONVDYN_CHECK(opt.limit >= 0, ValueError, "{}: limit={} must be >= 0 (0 = all images)", path, opt.limit);
  CONVDYN_CHECK(std::isfinite(opt.scale), ValueError, "{}: scale={} must be finite (0 = automatic)", path,
                opt.scale);
  for (double m : opt.mean)
    CONVDYN_CHECK(std::isfinite(m), ValueError, "{}: mean [{}] must be finite", path, fmt::join(opt.mean, ", "));
  for (double s : opt.std)
    CONVDYN_CHECK(std::isfinite(s) && s != 0.0, ValueError, "{}: std [{}] must be finite and non-zero", path,
                  fmt::join(opt.std, ", "));
}

/// `raw`: the selected images [n, C, H, W] in the file's dtype (any strides). Checks finiteness and
/// applies the scaling and normalisation; returns a contiguous float64 tensor.
at::Tensor finish(const std::string& path, const at::Tensor& raw, DType dtype, std::int64_t first,
                  const InputOptions& opt) {
  if (dtype != DType::U8) {
    const at::Tensor bad = at::logical_not(at::isfinite(raw));
    if (bad.any().item<bool>()) {
      const at::Tensor idx = bad.nonzero()[0];
      const auto k = idx[0].item<std::int64_t>(), c = idx[1].item<std::int64_t>();
      const auto i = idx[2].item<std::int64_t>(), j = idx[3].item<std::int64_t>();
      throw ValueError(fmt::format("{}: image {} holds {} at channel {}, pixel ({}, {}); images must be finite",
                                   path, first + k, raw[k][c][i][j].item<double>(), c, i, j));
    }
  }
  at::Tensor out = at::empty(raw.sizes(), at::TensorOptions().dtype(at::kDouble));
  out.copy_(raw);
  if (opt.scale != 0.0)
    out.mul_(opt.scale);
  else if (dtype == DType::U8)
    out.div_(255.0);
  const std::int64_t channels = out.size(1);
  auto per_channel = [&](const std::vector<double>& v, const char* name) {
    CONVDYN_CHECK(v.size() == 1 || static_cast<std::int64_t>(v.size()) == channels, ValueError,
                  "{}: {} has {} values; expected 1 or one per channel ({})", path, name, v.size(), channels);
    at::Tensor t = at::empty({static_cast<std::int64_t>(v.size())}, at::TensorOptions().dtype(at::kDouble));
    std::copy(v.begin(), v.end(), t.data_ptr<double>());
    return t.view({1, -1, 1, 1});
  };
  if (!opt.mean.empty()) out.sub_(per_channel(opt.mean, "mean"));
  if (!opt.std.empty()) out.div_(per_channel(opt.std, "std"));
  return out;
}

// ----------------------------------------------------------------------------------------------------------
// NumPy .npy
// ----------------------------------------------------------------------------------------------------------

/// The header dict literal of a .npy file, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (5, 1), }.
struct NpyHeader {
  std::string descr;
  bool descr_is_list = false;  // structured dtype
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = parse_string();
      expect(':');
      skip_ws();
      if (key == "descr") {
        seen_descr = true;
        if (peek() == '[') {
          h.descr_is_list = true;
          skip_nested();
        } else {
          h.descr = parse_string();
        }
      } else if (key == "fortran_order") {
        seen_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        seen_shape = true;
        h.shape = parse_int_tuple();
      } else {
        fail(fmt::format("unexpected key '{}'", key));
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      break;
    }
    CONVDYN_CHECK(seen_descr && seen_order && seen_shape, IoError,
                  "{}: malformed .npy header: 'descr', 'fortran_order' and 'shape' are required", path_);
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(fmt::format("{}: malformed .npy header: {} at offset {}", path_, what, pos_));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const auto end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<std::int64_t> parse_int_tuple() {
    expect('(');
    std::vector<std::int64_t> out;
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++pos_;
        return out;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a non-negative integer");
      std::int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const int d = s_[pos_++] - '0';
        if (v > (INT64_MAX - d) / 10) fail("dimension too large");
        v = v * 10 + d;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal
      out.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')'");
      }
    }
  }
  void skip_nested() {  // a list literal (structured dtype), skipped with its nested brackets and strings
    int depth = 0;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\'' || c == '"') {
        parse_string();
        continue;
      }
      ++pos_;
      if (c == '[' || c == '(') ++depth;
      if ((c == ']' || c == ')') && --depth == 0) return;
    }
    fail("unterminated list");
  }

  const std::string& path_;
  const std::string& s_;
  std::size_t pos_ = 0;
};

DType npy_dtype(const std::string& path, const NpyHeader& h) {
  CONVDYN_CHECK(!h.descr_is_list, IoError,
                "{}: structured .npy dtype is not supported (accepted: uint8 '|u1', float32 '<f4', float64 '<f8')",
                path);
  const std::string& d = h.descr;
  CONVDYN_CHECK(d.find('O') == std::string::npos, IoError,
                "{}: .npy holds an object array (dtype '{}'), i.e. pickled Python objects; refused (convdyn never "
                "unpickles)",
                path, d);
  const char order = d.empty() ? '\0' : d[0];
  const std::string code = (order == '<' || order == '>' || order == '|' || order == '=') ? d.substr(1) : d;
  if (code == "u1") return DType::U8;
  if (code == "f4" || code == "f8") {
    CONVDYN_CHECK(order != '>', IoError,
                  "{}: big-endian .npy (dtype '{}') is not supported; convert it with a.astype('<{}')", path, d, code);
    return code == "f4" ? DType::F32 : DType::F64;
  }
  throw IoError(fmt::format(
      "{}: unsupported .npy dtype '{}' (accepted: uint8 '|u1', float32 '<f4', float64 '<f8')", path, d));
}

void read_exact(const std::string& path, std::ifstream& f, void* dst, std::uint64_t n) {
  f.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  CONVDYN_CHECK(static_cast<std::uint64_t>(f.gcount()) == n, IoError,
                "{}: truncated: expected {} more bytes, the file ended after {}", path, n, f.gcount());
}

/// Reads the magic, version and header dict of a .npy file from the start of `f`; `data_offset` gets where the
/// array's bytes start.
NpyHeader read_npy_header(const std::string& path, std::ifstream& f, std::uint64_t file_size,
                          std::uint64_t& data_offset) {
  std::array<unsigned char, 12> pre{};
  CONVDYN_CHECK(file_size >= 10, IoError, "{}: truncated .npy header ({} bytes)", path, file_size);
  read_exact(path, f, pre.data(), 10);
  const int major = pre[6], minor = pre[7];
  CONVDYN_CHECK(major >= 1 && major <= 3, IoError, "{}: unsupported .npy format version {}.{} (accepted: 1.0, 2.0, 3.0)",
                path, major, minor);
  std::uint64_t header_len = pre[8] | (pre[9] << 8);
  data_offset = 10;
  if (major >= 2) {
    CONVDYN_CHECK(file_size >= 12, IoError, "{}: truncated .npy header ({} bytes)", path, file_size);
    read_exact(path, f, pre.data() + 10, 2);
    header_len = std::uint64_t{pre[8]} | std::uint64_t{pre[9]} << 8 | std::uint64_t{pre[10]} << 16 |
                 std::uint64_t{pre[11]} << 24;
    data_offset = 12;
  }
  CONVDYN_CHECK(header_len <= file_size - data_offset && header_len <= (1u << 20), IoError,
                "{}: truncated .npy header: it claims {} bytes, the file has {}", path, header_len, file_size);
  std::string text(header_len, '\0');
  read_exact(path, f, text.data(), header_len);
  data_offset += header_len;
  return NpyHeaderParser(path, text).parse();
}

at::Tensor read_npy(const std::string& path, std::uint64_t file_size, const InputOptions& opt) {
  std::ifstream f(path, std::ios::binary);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::uint64_t data_offset = 0;
  const NpyHeader h = read_npy_header(path, f, file_size, data_offset);
  ArrayInfo a{h.shape, npy_dtype(path, h)};
  const std::uint64_t bytes = check_array(path, a);
  CONVDYN_CHECK(bytes <= file_size - data_offset, IoError,
                "{}: truncated: the header claims shape {} {} ({} bytes of data), the file holds {} after the "
                "header",
                path, shape_str(a.dims), dtype_name(a.dtype), bytes, file_size - data_offset);
  const std::int64_t n = a.dims[0];
  const Selection sel = select(path, opt, n);
  const auto topt = at::TensorOptions().dtype(torch_type(a.dtype));

  at::Tensor raw;
  if (!h.fortran_order) {
    const std::uint64_t per_image = bytes / static_cast<std::uint64_t>(n);
    std::vector<std::int64_t> dims = a.dims;
    dims[0] = sel.count;
    raw = at::empty(dims, topt);
    f.seekg(static_cast<std::streamoff>(data_offset + per_image * static_cast<std::uint64_t>(sel.first)));
    read_exact(path, f, raw.data_ptr(), per_image * static_cast<std::uint64_t>(sel.count));
  } else {
    // Fortran order is C order of the reversed shape: read all of it, then view it back.
    std::vector<std::int64_t> rev(a.dims.rbegin(), a.dims.rend());
    raw = at::empty(rev, topt);
    read_exact(path, f, raw.data_ptr(), bytes);
    std::vector<std::int64_t> perm(a.dims.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<std::int64_t>(perm.size() - 1 - i);
    raw = raw.permute(perm).narrow(0, sel.first, sel.count);
  }
  if (raw.dim() == 3) raw = raw.unsqueeze(1);
  return finish(path, raw, a.dtype, sel.first, opt);
}

// ----------------------------------------------------------------------------------------------------------
// MNIST IDX (raw or gzip, both through zlib's gzread)
// ----------------------------------------------------------------------------------------------------------

struct GzFile {
  gzFile f = nullptr;
  explicit GzFile(gzFile g) : f(g) {}
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

std::string gz_error_text(gzFile f) {
  int errnum = 0;
  const char* msg = gzerror(f, &errnum);
  return errnum == Z_ERRNO ? std::string(std::strerror(errno)) : std::string(msg ? msg : "unknown error");
}

/// Reads up to n bytes; returns how many were read (short at the end of the data).
std::uint64_t gz_read(const std::string& path, gzFile f, void* dst, std::uint64_t n) {
  std::uint64_t done = 0;
  auto* p = static_cast<unsigned char*>(dst);
  while (done < n) {
    const auto chunk = static_cast<unsigned>(std::min<std::uint64_t>(n - done, 1u << 30));
    const int got = gzread(f, p + done, chunk);
    CONVDYN_CHECK(got >= 0, IoError, "{}: corrupt compressed data ({})", path, gz_error_text(f));
    if (got == 0) break;
    done += static_cast<std::uint64_t>(got);
  }
  return done;
}

at::Tensor read_idx(const std::string& path, std::uint64_t file_size, bool gzipped, const InputOptions& opt) {
  GzFile g(gzopen(path.c_str(), "rb"));
  CONVDYN_CHECK(g.f != nullptr, IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  gzbuffer(g.f, 1u << 17);
  std::array<unsigned char, 16> head{};
  const auto got = gz_read(path, g.f, head.data(), 4);
  const std::string magic(reinterpret_cast<const char*>(head.data()), got);
  CONVDYN_CHECK(got == 4 && head[0] == 0 && head[1] == 0, IoError,
                "{}: unknown file format (gzip data starting with {}); accepted: {}", path, hex_bytes(magic, 4),
                kAccepted);
  CONVDYN_CHECK(head[2] == 0x08, IoError,
                "{}: unsupported IDX data type 0x{:02x} (accepted: 0x08, unsigned byte)", path, head[2]);
  CONVDYN_CHECK(head[3] == 3, ValueError,
                "{}: IDX file of rank {} (magic 0x{:08x}); expected images, magic 0x00000803 [N, H, W]", path,
                head[3], 0x800u | head[3]);
  CONVDYN_CHECK(gz_read(path, g.f, head.data() + 4, 12) == 12, IoError, "{}: truncated IDX header", path);
  ArrayInfo a;
  for (int d = 0; d < 3; ++d) {
    const unsigned char* b = head.data() + 4 + 4 * d;
    a.dims.push_back(static_cast<std::int64_t>(std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 |
                                               std::uint32_t{b[2]} << 8 | std::uint32_t{b[3]}));
  }
  const std::uint64_t bytes = check_array(path, a);
  if (!gzipped) {
    CONVDYN_CHECK(bytes <= file_size - 16, IoError,
                  "{}: truncated: the IDX header claims {} images of {}x{} ({} bytes of data), the file holds {}",
                  path, a.dims[0], a.dims[1], a.dims[2], bytes, file_size - 16);
  } else {
    CONVDYN_CHECK(bytes <= file_size * kMaxDeflateRatio, IoError,
                  "{}: truncated or corrupt: the IDX header claims {} images of {}x{} ({} bytes), more than a gzip "
                  "file of {} bytes can hold",
                  path, a.dims[0], a.dims[1], a.dims[2], bytes, file_size);
  }
  const Selection sel = select(path, opt, a.dims[0]);
  const auto per_image = static_cast<std::uint64_t>(a.dims[1] * a.dims[2]);
  if (sel.first > 0) {
    const auto pos = static_cast<z_off_t>(16 + per_image * static_cast<std::uint64_t>(sel.first));
    CONVDYN_CHECK(gzseek(g.f, pos, SEEK_SET) == pos, IoError, "{}: truncated: cannot skip to image {} ({})", path,
                  sel.first, gz_error_text(g.f));
  }
  at::Tensor raw = at::empty({sel.count, 1, a.dims[1], a.dims[2]}, at::TensorOptions().dtype(at::kByte));
  const std::uint64_t want = per_image * static_cast<std::uint64_t>(sel.count);
  const std::uint64_t have = gz_read(path, g.f, raw.data_ptr(), want);
  CONVDYN_CHECK(have == want, IoError,
                "{}: truncated: the IDX header claims {} images of {}x{}, the data ends {} bytes into image {}", path,
                a.dims[0], a.dims[1], a.dims[2], have % per_image, sel.first + static_cast<std::int64_t>(have / per_image));
  return finish(path, raw, DType::U8, sel.first, opt);
}

// ----------------------------------------------------------------------------------------------------------
// HDF5 (model/io/hdf5.hpp)
// ----------------------------------------------------------------------------------------------------------

struct H5DatasetInfo {
  std::string name;  // absolute, e.g. "/group/x"
  std::vector<std::int64_t> dims;
  std::string type;
};

std::string h5_type_name(hid_t type) {
  const auto size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * size);
    case H5T_FLOAT: return fmt::format("float{}", 8 * size);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "vlen";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    default: return "unknown type";
  }
}

H5DatasetInfo h5_describe(hid_t ds, const std::string& name) {
  H5DatasetInfo info{name, {}, "?"};
  const auto space = hdf5::Handle::adopt(H5Dget_space(ds), H5Sclose);
  const auto type = hdf5::Handle::adopt(H5Dget_type(ds), H5Tclose);
  if (space.valid()) {
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank > 0) {
      std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
      H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
      for (auto d : dims) info.dims.push_back(static_cast<std::int64_t>(d));
    }
  }
  if (type.valid()) info.type = h5_type_name(type.get());
  return info;
}

std::vector<H5DatasetInfo> h5_list_datasets(hid_t file) {
  std::vector<H5DatasetInfo> out;
  H5Lvisit(
      file, H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t group, const char* name, const H5L_info_t* info, void* data) -> herr_t {
        if (info->type != H5L_TYPE_HARD) return 0;
        const auto obj = hdf5::Handle::adopt(H5Oopen(group, name, H5P_DEFAULT), H5Oclose);
        if (obj.valid() && H5Iget_type(obj.get()) == H5I_DATASET)
          static_cast<std::vector<H5DatasetInfo>*>(data)->push_back(h5_describe(obj.get(), std::string("/") + name));
        return 0;
      },
      &out);
  H5Eclear2(H5E_DEFAULT);
  return out;
}

std::string h5_listing(const std::vector<H5DatasetInfo>& all) {
  if (all.empty()) return "the file has no datasets";
  std::vector<std::string> items;
  for (const auto& d : all) items.push_back(fmt::format("{} {} {}", d.name, shape_str(d.dims), d.type));
  return fmt::format("datasets: {}", fmt::join(items, ", "));
}

at::Tensor read_hdf5(const std::string& path, const InputOptions& opt) {
  hdf5::Silence quiet;
  const auto file = hdf5::Handle::adopt(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  CONVDYN_CHECK(file.valid(), IoError, "{}: cannot open HDF5 file ({})", path, hdf5::error_text());
  const auto all = h5_list_datasets(file.get());

  std::string name = opt.dataset;
  if (name.empty()) {
    std::vector<std::string> candidates;
    for (const auto& d : all)
      if (d.dims.size() == 3 || d.dims.size() == 4) candidates.push_back(d.name);
    CONVDYN_CHECK(!candidates.empty(), ValueError, "{}: no 3-D or 4-D image dataset ({})", path, h5_listing(all));
    CONVDYN_CHECK(candidates.size() == 1, ValueError,
                  "{}: several image datasets ({}); choose one with the dataset option", path,
                  fmt::join(candidates, ", "));
    name = candidates.front();
  }
  const auto ds = hdf5::Handle::adopt(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) H5Eclear2(H5E_DEFAULT);
  CONVDYN_CHECK(ds.valid(), ValueError, "{}: no dataset '{}' ({})", path, name, h5_listing(all));

  const H5DatasetInfo info = h5_describe(ds.get(), name);
  CONVDYN_CHECK(info.dims.size() == 3 || info.dims.size() == 4, ValueError,
                "{}: dataset '{}' of shape {} has rank {}; expected images [N, C, H, W] or [N, H, W]", path, name,
                shape_str(info.dims), info.dims.size());
  const auto type = hdf5::Handle::adopt(H5Dget_type(ds.get()), H5Tclose);
  CONVDYN_CHECK(type.valid(), IoError, "{}: cannot read the type of dataset '{}' ({})", path, name, hdf5::error_text());
  const auto cls = H5Tget_class(type.get());
  const auto size = H5Tget_size(type.get());
  ArrayInfo a{info.dims, DType::U8};
  hid_t mem_type = H5T_NATIVE_UINT8;
  if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type.get()) == H5T_SGN_NONE) {
    a.dtype = DType::U8;
  } else if (cls == H5T_FLOAT && size == 4) {
    a.dtype = DType::F32;
    mem_type = H5T_NATIVE_FLOAT;
  } else if (cls == H5T_FLOAT && size == 8) {
    a.dtype = DType::F64;
    mem_type = H5T_NATIVE_DOUBLE;
  } else {
    throw IoError(fmt::format("{}: dataset '{}' has unsupported type {} (accepted: uint8, float32, float64)", path,
                              name, info.type));
  }
  check_array(path, a);
  const Selection sel = select(path, opt, a.dims[0]);

  const auto file_space = hdf5::Handle::adopt(H5Dget_space(ds.get()), H5Sclose);
  CONVDYN_CHECK(file_space.valid(), IoError, "{}: cannot read dataset '{}' ({})", path, name, hdf5::error_text());
  std::vector<hsize_t> start(a.dims.size(), 0), count(a.dims.begin(), a.dims.end());
  start[0] = static_cast<hsize_t>(sel.first);
  count[0] = static_cast<hsize_t>(sel.count);
  CONVDYN_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                    nullptr) >= 0,
                IoError, "{}: cannot select images of dataset '{}' ({})", path, name, hdf5::error_text());
  const auto mem_space = hdf5::Handle::adopt(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  CONVDYN_CHECK(mem_space.valid(), IoError, "{}: cannot read dataset '{}' ({})", path, name, hdf5::error_text());
  std::vector<std::int64_t> dims = a.dims;
  dims[0] = sel.count;
  at::Tensor raw = at::empty(dims, at::TensorOptions().dtype(torch_type(a.dtype)));
  CONVDYN_CHECK(H5Dread(ds.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, raw.data_ptr()) >= 0,
                IoError, "{}: cannot read dataset '{}' ({})", path, name, hdf5::error_text());
  if (raw.dim() == 3) raw = raw.unsqueeze(1);
  return finish(path, raw, a.dtype, sel.first, opt);
}

// ----------------------------------------------------------------------------------------------------------
// Labels
// ----------------------------------------------------------------------------------------------------------

constexpr const char* kLabelFormats = "MNIST IDX labels (raw or gzip), NumPy .npy 1-D integers, text integers";
constexpr std::int64_t kMaxLabels = std::int64_t{1} << 31;

at::Tensor select_labels(const std::string& path, std::vector<std::int64_t> v, const InputOptions& opt) {
  CONVDYN_CHECK(!v.empty(), ValueError, "{}: holds no labels", path);
  const Selection sel = select(path, opt, static_cast<std::int64_t>(v.size()));
  at::Tensor out = at::empty({sel.count}, at::TensorOptions().dtype(at::kLong));
  std::copy(v.begin() + sel.first, v.begin() + sel.first + sel.count, out.data_ptr<std::int64_t>());
  return out;
}

at::Tensor read_idx_labels(const std::string& path, std::uint64_t file_size, const InputOptions& opt) {
  GzFile g(gzopen(path.c_str(), "rb"));
  CONVDYN_CHECK(g.f != nullptr, IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::array<unsigned char, 8> head{};
  CONVDYN_CHECK(gz_read(path, g.f, head.data(), 8) == 8, IoError, "{}: truncated IDX header", path);
  CONVDYN_CHECK(head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] == 1, ValueError,
                "{}: not an IDX label file (magic {:02x}{:02x}{:02x}{:02x}; expected 00000801, uint8 [N])", path,
                head[0], head[1], head[2], head[3]);
  const std::uint64_t n = std::uint64_t{head[4]} << 24 | std::uint64_t{head[5]} << 16 | std::uint64_t{head[6]} << 8 |
                          std::uint64_t{head[7]};
  CONVDYN_CHECK(n <= file_size * kMaxDeflateRatio, IoError,
                "{}: truncated or corrupt: the IDX header claims {} labels, more than the file can hold", path, n);
  std::vector<unsigned char> raw(n);
  const auto got = gz_read(path, g.f, raw.data(), n);
  CONVDYN_CHECK(got == n, IoError, "{}: truncated: the IDX header claims {} labels, the data holds {}", path, n, got);
  return select_labels(path, std::vector<std::int64_t>(raw.begin(), raw.end()), opt);
}

at::Tensor read_npy_labels(const std::string& path, std::uint64_t file_size, const InputOptions& opt) {
  std::ifstream f(path, std::ios::binary);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::uint64_t data_offset = 0;
  const NpyHeader h = read_npy_header(path, f, file_size, data_offset);
  CONVDYN_CHECK(!h.descr_is_list && h.descr.find('O') == std::string::npos, IoError,
                "{}: .npy labels must be a plain integer array (dtype '{}')", path, h.descr);
  CONVDYN_CHECK(h.shape.size() == 1, ValueError, "{}: labels of shape {}; expected a 1-D array [N]", path,
                shape_str(h.shape));
  const std::string& d = h.descr;
  const char order = d.empty() ? '\0' : d[0];
  const std::string code = (order == '<' || order == '>' || order == '|' || order == '=') ? d.substr(1) : d;
  static const std::map<std::string, std::pair<at::ScalarType, int>> kTypes = {
      {"u1", {at::kByte, 1}}, {"i1", {at::kChar, 1}}, {"i2", {at::kShort, 2}},
      {"i4", {at::kInt, 4}},  {"i8", {at::kLong, 8}}};
  auto t = kTypes.find(code);
  CONVDYN_CHECK(t != kTypes.end() && order != '>', IoError,
                "{}: unsupported .npy label dtype '{}' (accepted: little-endian uint8, int8, int16, int32, int64)",
                path, d);
  const std::int64_t n = h.shape[0];
  CONVDYN_CHECK(n >= 0 && n < kMaxLabels, IoError, "{}: {} labels is out of range", path, n);
  const std::uint64_t bytes = static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(t->second.second);
  CONVDYN_CHECK(bytes <= file_size - data_offset, IoError, "{}: truncated: the header claims {} labels", path, n);
  at::Tensor raw = at::empty({n}, at::TensorOptions().dtype(t->second.first));
  read_exact(path, f, raw.data_ptr(), bytes);
  raw = raw.to(at::kLong);
  const std::int64_t* p = raw.data_ptr<std::int64_t>();
  std::vector<std::int64_t> v(p, p + n);
  for (std::int64_t i = 0; i < n; ++i)
    CONVDYN_CHECK(v[i] >= 0, ValueError, "{}: label {} is {}; labels must be >= 0", path, i, v[i]);
  return select_labels(path, std::move(v), opt);
}

at::Tensor read_text_labels(const std::string& path, const InputOptions& opt) {
  std::ifstream f(path);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::vector<std::int64_t> v;
  std::string word;
  while (f >> word) {
    CONVDYN_CHECK(word.size() <= 18 && std::all_of(word.begin(), word.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }),
                  ValueError, "{}: label {} is '{}'; expected a non-negative integer (formats: {})", path, v.size(),
                  word.substr(0, 40), kLabelFormats);
    v.push_back(std::stoll(word));
    CONVDYN_CHECK(static_cast<std::int64_t>(v.size()) < kMaxLabels, IoError, "{}: too many labels", path);
  }
  return select_labels(path, std::move(v), opt);
}

/// The size of the regular, non-empty file `path`; IoError naming it otherwise (`kind`: "an image file").
std::uint64_t checked_file_size(const std::string& path, const char* kind, const char* formats) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVDYN_CHECK(fs::exists(path, ec), IoError, "{}: no such file", path);
  CONVDYN_CHECK(!fs::is_directory(path, ec), IoError, "{}: is a directory, not {}", path, kind);
  const std::uint64_t file_size = fs::file_size(path, ec);
  CONVDYN_CHECK(!ec, IoError, "{}: cannot read file size ({})", path, ec.message());
  CONVDYN_CHECK(file_size > 0, IoError, "{}: file is empty (accepted formats: {})", path, formats);
  return file_size;
}

}  // namespace

at::Tensor read_images(const std::string& path, const InputOptions& opt) {
  const std::uint64_t file_size = checked_file_size(path, "an image file", kAccepted);
  check_options(path, opt);

  std::string head(8, '\0');
  {
    std::ifstream f(path, std::ios::binary);
    CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
    f.read(head.data(), 8);
    head.resize(static_cast<std::size_t>(f.gcount()));
  }
  auto starts_with = [&](const char* magic, std::size_t n) { return head.size() >= n && head.compare(0, n, magic, n) == 0; };
  if (starts_with("\x93NUMPY", 6)) return read_npy(path, file_size, opt);
  if (starts_with("\x89HDF\r\n\x1a\n", 8)) return read_hdf5(path, opt);
  if (starts_with("\x1f\x8b", 2)) return read_idx(path, file_size, true, opt);
  if (starts_with("\x00\x00", 2) && head.size() >= 4 && static_cast<unsigned char>(head[2]) >= 0x08 &&
      static_cast<unsigned char>(head[2]) <= 0x0e && head[3] >= 1)
    return read_idx(path, file_size, false, opt);
  throw IoError(fmt::format("{}: unknown file format (first bytes {}); accepted: {}", path, hex_bytes(head, 8),
                            kAccepted));
}

at::Tensor read_labels(const std::string& path, const InputOptions& opt) {
  const std::uint64_t file_size = checked_file_size(path, "a label file", kLabelFormats);
  check_options(path, opt);
  std::string head(4, '\0');
  {
    std::ifstream f(path, std::ios::binary);
    f.read(head.data(), 4);
    head.resize(static_cast<std::size_t>(f.gcount()));
  }
  if (head.compare(0, 4, "\x93NUM", 4) == 0) return read_npy_labels(path, file_size, opt);
  if (head.size() >= 2 && head.compare(0, 2, "\x1f\x8b", 2) == 0) return read_idx_labels(path, file_size, opt);
  if (head.size() == 4 && head[0] == 0 && head[1] == 0) return read_idx_labels(path, file_size, opt);
  const bool text = std::all_of(head.begin(), head.end(), [](char c) {
    return std::isprint(static_cast<unsigned char>(c)) || std::isspace(static_cast<unsigned char>(c));
  });
  CONVDYN_CHECK(text, IoError, "{}: unknown label file format (first bytes {}); accepted: {}", path, hex_bytes(head, 4),
                kLabelFormats);
  return read_text_labels(path, opt);
}

std::string describe_normalisation(const InputOptions& opt) {
  std::string s = opt.scale == 0.0 ? std::string("uint8 pixels divided by 255, float pixels unchanged")
                                   : fmt::format("pixels multiplied by {}", opt.scale);
  if (!opt.mean.empty() || !opt.std.empty()) {
    const std::vector<double> mean = opt.mean.empty() ? std::vector<double>{0.0} : opt.mean;
    const std::vector<double> std = opt.std.empty() ? std::vector<double>{1.0} : opt.std;
    s += fmt::format("; then (x - mean[c]) / std[c] with mean=[{}], std=[{}]", fmt::join(mean, ", "),
                     fmt::join(std, ", "));
  }
  return s;
}

}  // namespace convdyn::model
