#include "model/io/tf_bundle.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>

#include "linalg/error.hpp"
#include "model/io/detail/crc32c.hpp"
#include "model/io/detail/tf_proto.hpp"
#include "model/io/detail/tf_table.hpp"

namespace convdyn::model {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxShards = 10000;  // zoo checkpoints have 1; each shard is a file to open
constexpr std::size_t kMaxRank = 64;
constexpr int kBundleVersion = 1;  // the tensor-bundle format version this reader implements (as TF's)

struct DtypeInfo {
  const char* name;
  std::size_t elem_size;  // 0: variable-length (string, resource, variant)
  std::optional<at::ScalarType> torch;
};

DtypeInfo dtype_info(int dt) {
  switch (dt) {
    case 1: return {"float32", 4, at::kFloat};
    case 2: return {"float64", 8, at::kDouble};
    case 3: return {"int32", 4, at::kInt};
    case 4: return {"uint8", 1, at::kByte};
    case 5: return {"int16", 2, at::kShort};
    case 6: return {"int8", 1, at::kChar};
    case 7: return {"string", 0, std::nullopt};
    case 8: return {"complex64", 8, std::nullopt};
    case 9: return {"int64", 8, at::kLong};
    case 10: return {"bool", 1, std::nullopt};
    case 11: return {"qint8", 1, std::nullopt};
    case 12: return {"quint8", 1, std::nullopt};
    case 13: return {"qint32", 4, std::nullopt};
    case 14: return {"bfloat16", 2, at::kBFloat16};
    case 15: return {"qint16", 2, std::nullopt};
    case 16: return {"quint16", 2, std::nullopt};
    case 17: return {"uint16", 2, std::nullopt};
    case 18: return {"complex128", 16, std::nullopt};
    case 19: return {"float16", 2, at::kHalf};
    case 20: return {"resource", 0, std::nullopt};
    case 21: return {"variant", 0, std::nullopt};
    case 22: return {"uint32", 4, std::nullopt};
    case 23: return {"uint64", 8, std::nullopt};
    default: return {nullptr, 0, std::nullopt};
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_regular(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool has_table_magic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 48) return false;
  f.seekg(size - 8);
  unsigned char tail[8];
  f.read(reinterpret_cast<char*>(tail), 8);
  return f.gcount() == 8 && std::memcmp(tail, detail::kTableMagicBytes, 8) == 0;
}

std::string read_whole(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  CONVDYN_CHECK(!ec, IoError, "{}: cannot read file size ({})", path, ec.message());
  std::ifstream f(path, std::ios::binary);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::string bytes(static_cast<std::size_t>(size), '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  CONVDYN_CHECK(static_cast<std::uintmax_t>(f.gcount()) == size, IoError, "{}: short read ({} of {} bytes)", path,
                f.gcount(), size);
  return bytes;
}

std::string shape_str(const std::vector<std::int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

}  // namespace

std::string tf_dtype_name(int tf_dtype) {
  const DtypeInfo d = dtype_info(tf_dtype);
  return d.name ? d.name : fmt::format("dtype({})", tf_dtype);
}

bool is_tf_bundle(const std::string& path) noexcept {
  try {
    if (is_regular(path) && has_table_magic(path)) return true;
    const std::string index = path + ".index";
    return is_regular(index) && has_table_magic(index);
  } catch (...) {
    return false;
  }
}

TfBundle read_tf_bundle(const std::string& path, const TfBundleReadOptions& opt) {
  TfBundle b;
  b.verify_checksums = opt.verify_checksums;
  // The index: the file given when it is one (by content), else "<path>.index".
  if (is_regular(path) && (has_table_magic(path) || !is_regular(path + ".index"))) {
    b.index_path = path;
  } else if (is_regular(path + ".index")) {
    b.index_path = path + ".index";
  } else {
    std::error_code ec;
    CONVDYN_CHECK(!fs::is_directory(path, ec), IoError, "{}: is a directory, not a TensorFlow checkpoint", path);
    throw IoError(fmt::format("{}: no such file (nor {}.index)", path, path));
  }
  b.prefix = ends_with(b.index_path, ".index") ? b.index_path.substr(0, b.index_path.size() - 6) : b.index_path;
  const std::string& ip = b.index_path;

  const std::string bytes = read_whole(ip);
  const std::vector<detail::TableEntry> table = detail::read_table(bytes, ip, opt.verify_checksums);
  CONVDYN_CHECK(!table.empty() && table.front().key.empty(), IoError,
                "{}: no tensor-bundle header (the index has no entry under the empty key)", ip);
  const detail::BundleHeaderMsg h = detail::parse_bundle_header(table.front().value, ip + ": bundle header");
  CONVDYN_CHECK(h.num_shards >= 1 && h.num_shards <= kMaxShards, IoError,
                "{}: bundle header claims {} data shards (1 to {} supported)", ip, h.num_shards, kMaxShards);
  CONVDYN_CHECK(h.endianness == 0, ValueError,
                "{}: the bundle is {} (endianness {}); only little-endian bundles are supported", ip,
                h.endianness == 1 ? "big-endian" : "of unknown byte order", h.endianness);
  CONVDYN_CHECK(h.min_consumer <= kBundleVersion, ValueError,
                "{}: the bundle needs a reader of format version >= {} (this reader implements version {})", ip,
                h.min_consumer, kBundleVersion);
  CONVDYN_CHECK(std::find(h.bad_consumers.begin(), h.bad_consumers.end(), kBundleVersion) == h.bad_consumers.end(),
                ValueError, "{}: the bundle disallows readers of format version {}", ip, kBundleVersion);
  b.num_shards = static_cast<std::int32_t>(h.num_shards);

  for (std::int32_t s = 0; s < b.num_shards; ++s) {
    const std::string sp = fmt::format("{}.data-{:05d}-of-{:05d}", b.prefix, s, b.num_shards);
    std::error_code ec;
    const bool exists = fs::is_regular_file(sp, ec);
    CONVDYN_CHECK(exists, IoError, "{}: data shard {} of {} is missing (the index is {})", sp, s, b.num_shards, ip);
    const auto size = fs::file_size(sp, ec);
    CONVDYN_CHECK(!ec, IoError, "{}: cannot read file size ({})", sp, ec.message());
    b.shard_paths.push_back(sp);
    b.shard_sizes.push_back(static_cast<std::uint64_t>(size));
  }

  b.entries.reserve(table.size() - 1);
  for (std::size_t i = 1; i < table.size(); ++i) {
    const std::string& name = table[i].key;
    const std::string where = fmt::format("{}: variable '{}'", ip, name);
    const detail::BundleEntryMsg m = detail::parse_bundle_entry(table[i].value, where);
    CONVDYN_CHECK(m.n_slices == 0, ValueError,
                  "{} is partitioned into {} slices (partitioned variables are not supported)", where, m.n_slices);
    CONVDYN_CHECK(!m.unknown_rank, IoError, "{} has a shape of unknown rank", where);
    CONVDYN_CHECK(m.dims.size() <= kMaxRank, ValueError, "{} has rank {} (at most {} supported)", where,
                  m.dims.size(), kMaxRank);
    std::int64_t numel = 1;
    for (const std::int64_t d : m.dims) {
      CONVDYN_CHECK(d >= 0, IoError, "{} has a negative or unknown dimension in shape {}", where, shape_str(m.dims));
      CONVDYN_CHECK(!__builtin_mul_overflow(numel, d, &numel), IoError, "{}: shape {} overflows 64 bits", where,
                    shape_str(m.dims));
    }
    CONVDYN_CHECK(m.shard_id >= 0 && m.shard_id < b.num_shards, IoError, "{} is in shard {}, but the bundle has {}",
                  where, m.shard_id, b.num_shards);
    CONVDYN_CHECK(m.offset >= 0 && m.size >= 0, IoError, "{} has a negative offset ({}) or size ({})", where,
                  m.offset, m.size);
    const DtypeInfo dt = dtype_info(static_cast<int>(m.dtype));
    if (dt.elem_size > 0) {
      std::int64_t nbytes = 0;
      CONVDYN_CHECK(!__builtin_mul_overflow(numel, static_cast<std::int64_t>(dt.elem_size), &nbytes), IoError,
                    "{}: shape {} of {} overflows 64 bits in bytes", where, shape_str(m.dims), dt.name);
      CONVDYN_CHECK(nbytes == m.size, IoError, "{}: {} bytes stored for shape {} of {} ({} bytes expected)", where,
                    m.size, shape_str(m.dims), dt.name, nbytes);
    }
    const auto shard_size = b.shard_sizes[static_cast<std::size_t>(m.shard_id)];
    const auto off = static_cast<std::uint64_t>(m.offset), size = static_cast<std::uint64_t>(m.size);
    CONVDYN_CHECK(off <= shard_size && size <= shard_size - off, IoError,
                  "{}: variable '{}' (offset {}, {} bytes) lies past the end of the shard ({} bytes)",
                  b.shard_paths[static_cast<std::size_t>(m.shard_id)], name, off, size, shard_size);
    TfBundleEntry e;
    e.name = name;
    e.tf_dtype = static_cast<int>(m.dtype);
    e.dtype = tf_dtype_name(e.tf_dtype);
    e.shape = m.dims;
    e.shard_id = static_cast<std::int32_t>(m.shard_id);
    e.offset = off;
    e.size = size;
    e.masked_crc32c = m.crc32c;
    e.has_crc = m.has_crc32c;
    b.entries.push_back(std::move(e));
  }
  return b;
}

at::Tensor read_tf_tensor(const TfBundle& b, const TfBundleEntry& e) {
  const DtypeInfo dt = dtype_info(e.tf_dtype);
  CONVDYN_CHECK(dt.torch.has_value(), ValueError,
                "{}: variable '{}' has dtype {}, which convdyn cannot read (float32, float64, float16, bfloat16, "
                "int8/16/32/64 and uint8 can be read)",
                b.index_path, e.name, e.dtype);
  CONVDYN_CHECK(e.shard_id >= 0 && static_cast<std::size_t>(e.shard_id) < b.shard_paths.size(), ValueError,
                "{}: variable '{}' is in shard {}, but the bundle has {}", b.index_path, e.name, e.shard_id,
                b.shard_paths.size());
  const std::string& sp = b.shard_paths[static_cast<std::size_t>(e.shard_id)];
  std::int64_t numel = 1;
  for (const std::int64_t d : e.shape)
    CONVDYN_CHECK(d >= 0 && !__builtin_mul_overflow(numel, d, &numel), ValueError,
                  "{}: variable '{}' has an invalid shape {}", b.index_path, e.name, shape_str(e.shape));
  CONVDYN_CHECK(static_cast<std::uint64_t>(numel) <= e.size / dt.elem_size &&
                    static_cast<std::uint64_t>(numel) * dt.elem_size == e.size,
                ValueError, "{}: variable '{}': {} bytes for shape {} of {}", b.index_path, e.name, e.size,
                shape_str(e.shape), e.dtype);

  FilePtr f(std::fopen(sp.c_str(), "rb"), &std::fclose);
  CONVDYN_CHECK(f != nullptr, IoError, "{}: cannot open data shard ({})", sp, std::strerror(errno));
  // The shard may have changed since the bundle was opened: check the extent again before allocating.
  CONVDYN_CHECK(std::fseek(f.get(), 0, SEEK_END) == 0, IoError, "{}: cannot seek ({})", sp, std::strerror(errno));
  const long end = std::ftell(f.get());
  CONVDYN_CHECK(end >= 0, IoError, "{}: cannot tell the file size ({})", sp, std::strerror(errno));
  const auto shard_size = static_cast<std::uint64_t>(end);
  CONVDYN_CHECK(e.offset <= shard_size && e.size <= shard_size - e.offset, IoError,
                "{}: variable '{}' (offset {}, {} bytes) lies past the end of the shard ({} bytes)", sp, e.name,
                e.offset, e.size, shard_size);

  at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(*dt.torch));
  if (e.size > 0) {
    CONVDYN_CHECK(std::fseek(f.get(), static_cast<long>(e.offset), SEEK_SET) == 0, IoError, "{}: cannot seek ({})",
                  sp, std::strerror(errno));
    const std::size_t got = std::fread(t.data_ptr(), 1, static_cast<std::size_t>(e.size), f.get());
    CONVDYN_CHECK(got == e.size, IoError, "{}: variable '{}': short read ({} of {} bytes)", sp, e.name, got, e.size);
  }
  if (b.verify_checksums) {
    const std::uint32_t actual = detail::crc32c(e.size ? t.data_ptr() : nullptr, static_cast<std::size_t>(e.size));
    const std::uint32_t stored = detail::crc32c_unmask(e.masked_crc32c);
    CONVDYN_CHECK(actual == stored, IoError, "{}: variable '{}': checksum mismatch (stored {:08x}, computed {:08x}){}",
                  sp, e.name, stored, actual, e.has_crc ? "" : " (the entry has no checksum)");
  }
  return t;
}

bool is_optimizer_slot(const std::string& full) {
  std::string name = full;
  // TF2 object-graph keys: "<path>/.ATTRIBUTES/VARIABLE_VALUE"; slots "<var>/.OPTIMIZER_SLOT/<opt>/<slot>/...".
  const std::string attr = "/.ATTRIBUTES/VARIABLE_VALUE";
  if (ends_with(name, attr)) name.resize(name.size() - attr.size());
  if (name.find(".OPTIMIZER_SLOT") != std::string::npos) return true;
  if (name.rfind("optimizer/", 0) == 0 || name == "save_counter") return true;
  const auto slash = name.rfind('/');
  const std::string last = slash == std::string::npos ? name : name.substr(slash + 1);
  if (last == "global_step" || last == "beta1_power" || last == "beta2_power") return true;
  if (slash == std::string::npos) return false;  // a slot always sits under its variable's name
  // Slot names are the optimiser's name ("Momentum", "Adam", "Adam_1", ...), "_<n>" added when repeated.
  std::string base = last;
  const auto us = base.rfind('_');
  if (us != std::string::npos && us + 1 < base.size() &&
      std::all_of(base.begin() + static_cast<std::ptrdiff_t>(us) + 1, base.end(), [](char c) { return c >= '0' && c <= '9'; }))
    base.resize(us);
  static const std::set<std::string> slots = {"Momentum", "Adam", "RMSProp", "Adagrad", "AdagradDA", "Ftrl",
                                              "Adadelta", "ProximalAdagrad", "Nadam", "Adamax", "LazyAdam"};
  return slots.count(base) > 0;
}

}  // namespace convdyn::model
