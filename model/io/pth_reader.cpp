#include "model/io/pth_reader.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/file_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/versions.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "linalg/error.hpp"

namespace convdyn::model {

bool looks_like_zip(const std::string& head) { return head.size() >= 4 && head.compare(0, 4, "PK\x03\x04") == 0; }

namespace {

// c10::Error messages carry a backtrace; keep the first line of the message only.
std::string first_line(const char* msg) {
  std::string s(msg);
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

using caffe2::serialize::ReadAdapterInterface;

// Reads from a caller's buffer. caffe2's MemoryReadAdapter does not clamp reads to the buffer; this one
// does, as FileAdapter does at the end of a file (miniz then sees a short read and reports an error).
class BufferReadAdapter final : public ReadAdapterInterface {
 public:
  BufferReadAdapter(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t size() const override { return size_; }
  std::size_t read(std::uint64_t pos, void* buf, std::size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    n = std::min<std::uint64_t>(n, size_ - pos);
    if (n) std::memcpy(buf, data_ + pos, n);
    return n;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

std::string read_bytes(const ReadAdapterInterface& in, std::uint64_t pos, std::size_t n) {
  std::string out(n, '\0');
  out.resize(n ? in.read(pos, out.data(), n, "convdyn zip check") : 0);
  return out;
}

std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 80 ? out + "..." : out;
}

// LibTorch's PyTorchStreamReader::getRecord allocates the uncompressed size that the zip central directory
// declares for an entry before it reads a byte. Walk the central directory the way miniz finds it (the last
// end-of-central-directory record, its zip64 locator if any) and refuse the whole file if any entry declares
// more than the file can hold: a stored entry more than the file size, a deflated one more than deflate's
// maximum ratio (1032:1) of its compressed size. Anything this walk cannot follow is refused too. Then the
// container checks of LibTorch's constructor (below).
void check_zip_directory(const ReadAdapterInterface& in, const std::string& name) {
  const std::uint64_t size = in.size();
  const auto corrupt = [&](const std::string& why) {
    return IoError(fmt::format("{}: corrupt or truncated zip container ({})", name, why));
  };
  constexpr std::uint64_t kEocd = 22, kLocator = 20, kEocd64 = 56, kEntry = 46;
  if (size < kEocd) throw corrupt("too short for a zip end record");
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, 0xFFFF + kEocd);
  const std::string tail = read_bytes(in, size - tail_size, tail_size);
  if (tail.size() != tail_size) throw corrupt("short read");
  std::size_t at = std::string::npos;
  for (std::size_t p = tail.size() - kEocd + 1; p-- > 0;)
    if (tail.compare(p, 4, "PK\x05\x06") == 0) { at = p; break; }
  if (at == std::string::npos) throw corrupt("no end-of-central-directory record");
  const std::uint64_t eocd_ofs = size - tail_size + at;
  std::uint64_t entries = le(tail, at + 10, 2), cdir_size = le(tail, at + 12, 4), cdir_ofs = le(tail, at + 16, 4);
  if (eocd_ofs >= kLocator) {
    const std::string loc = read_bytes(in, eocd_ofs - kLocator, kLocator);
    if (loc.size() == kLocator && loc.compare(0, 4, "PK\x06\x07") == 0) {
      const std::uint64_t e64_ofs = le(loc, 8, 8);
      if (e64_ofs > size || size - e64_ofs < kEocd64) throw corrupt("zip64 end record out of the file");
      const std::string e64 = read_bytes(in, e64_ofs, kEocd64);
      if (e64.size() != kEocd64 || e64.compare(0, 4, "PK\x06\x06") != 0) throw corrupt("bad zip64 end record");
      entries = le(e64, 32, 8), cdir_size = le(e64, 40, 8), cdir_ofs = le(e64, 48, 8);
    }
  }
  if (cdir_ofs > size || cdir_size > size - cdir_ofs) throw corrupt("central directory out of the file");
  if (entries > cdir_size / kEntry) throw corrupt(fmt::format("{} entries cannot fit a central directory of {} bytes", entries, cdir_size));
  const std::string dir = read_bytes(in, cdir_ofs, static_cast<std::size_t>(cdir_size));
  struct ZipRecord {
    std::string name;
    std::uint64_t method, comp, local_offset;
  };
  std::vector<ZipRecord> records;
  if (dir.size() != cdir_size) throw corrupt("short read");
  std::size_t p = 0;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (dir.size() - p < kEntry || dir.compare(p, 4, "PK\x01\x02") != 0) throw corrupt("bad central directory entry");
    const auto method = le(dir, p + 10, 2);
    std::uint64_t comp = le(dir, p + 20, 4), uncomp = le(dir, p + 24, 4);
    const std::size_t name_len = le(dir, p + 28, 2), extra_len = le(dir, p + 30, 2), comment_len = le(dir, p + 32, 2);
    if (dir.size() - p - kEntry < name_len + extra_len + comment_len) throw corrupt("bad central directory entry");
    const std::string entry = dir.substr(p + kEntry, name_len);
    // zip64: the sizes that do not fit 32 bits are in the extra field 0x0001, uncompressed size first.
    std::uint64_t local = le(dir, p + 42, 4);
    // zip64: the values that do not fit 32 bits are in the extra field 0x0001, in this order.
    if (uncomp == 0xFFFFFFFF || comp == 0xFFFFFFFF || local == 0xFFFFFFFF) {
      bool found = false;
      for (std::size_t x = p + kEntry + name_len, x_end = x + extra_len; x_end - x >= 4;) {
        const std::size_t id = le(dir, x, 2), len = le(dir, x + 2, 2);
        if (x_end - x - 4 < len) break;
        if (id == 0x0001) {
          std::size_t f = x + 4;
          found = true;
          for (std::uint64_t* v : {&uncomp, &comp, &local}) {
            if (*v != 0xFFFFFFFF) continue;
            if (f + 8 > x + 4 + len) { found = false; break; }
            *v = le(dir, f, 8), f += 8;
          }
          break;
        }
        x += 4 + len;
      }
      if (!found) throw corrupt(fmt::format("entry '{}' lacks its zip64 sizes", printable(entry)));
    }
    if (method != 0 && method != 8)
      throw corrupt(fmt::format("entry '{}' uses unsupported compression method {}", printable(entry), method));
    const std::uint64_t limit = method == 0 ? size : std::min<std::uint64_t>(comp, size) * 1032;
    CONVDYN_CHECK(comp <= size && uncomp <= limit, IoError,
                  "{}: zip entry '{}' declares {} bytes ({} stored), more than the file of {} bytes can hold", name,
                  printable(entry), uncomp, comp, size);
    records.push_back({entry, method, comp, local});
    p += kEntry + name_len + extra_len + comment_len;
  }

  // What PyTorchStreamReader's constructor requires next. When it throws after opening the archive, its
  // miniz state leaks (LibTorch 1.13; up to the size of the central directory), so refuse these here:
  // at least one entry, the first one inside a folder, and a stored 'version' record in LibTorch's range.
  if (records.empty()) throw corrupt("no entries");
  const auto slash = records.front().name.find('/');
  if (slash == std::string::npos) throw corrupt("the first entry is not inside a folder");
  const std::string prefix = records.front().name.substr(0, slash + 1);
  const auto same = [](const std::string& a, const std::string& b) {  // miniz compares names case-blind
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  const ZipRecord* version = nullptr;
  for (const char* v : {".data/version", "version"}) {
    for (const auto& r : records)
      if (!version && same(r.name, prefix + v)) version = &r;
  }
  if (!version) throw corrupt("no version record");
  if (version->method != 0 || version->comp > 32) return;  // left to LibTorch
  const std::string lh = read_bytes(in, version->local_offset, 30);
  if (lh.size() != 30 || lh.compare(0, 4, "PK\x03\x04") != 0) throw corrupt("bad local header of the version record");
  const std::string text =
      read_bytes(in, version->local_offset + 30 + le(lh, 26, 2) + le(lh, 28, 2), static_cast<std::size_t>(version->comp));
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i < text.size() && text[i] == '+') ++i;
  std::uint64_t v = 0;
  const std::size_t digits = i;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && v <= caffe2::serialize::kMaxSupportedFileFormatVersion; ++i)
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  CONVDYN_CHECK(i > digits && v >= caffe2::serialize::kMinSupportedFileFormatVersion &&
                    v <= caffe2::serialize::kMaxSupportedFileFormatVersion,
                IoError, "{}: unsupported or corrupt zip container version '{}' (LibTorch reads {} to {})", name,
                printable(text), caffe2::serialize::kMinSupportedFileFormatVersion,
                caffe2::serialize::kMaxSupportedFileFormatVersion);
}

PyRef read_pth_container(std::shared_ptr<ReadAdapterInterface> in, const std::string& name) {
  const std::uint64_t file_size = in->size();
  const std::string head = read_bytes(*in, 0, 16);
  CONVDYN_CHECK(!head.empty(), IoError, "{}: file is empty", name);
  if (!looks_like_zip(head)) {
    // torch.save before 1.6 (or _use_new_zipfile_serialization=False) writes a bare pickle stream that
    // starts with protocol 2 and a LONG1 magic number.
    CONVDYN_CHECK(!(static_cast<unsigned char>(head[0]) == 0x80 && head.size() > 2 &&
                    static_cast<unsigned char>(head[2]) == 0x8a),
                  IoError,
                  "{}: legacy (pre-1.6) torch.save format is not supported; re-save it with a current "
                  "PyTorch: torch.save(torch.load(f), g)",
                  name);
    std::string hex;
    for (std::size_t i = 0; i < std::min<std::size_t>(4, head.size()); ++i)
      hex += fmt::format("{}{:02x}", i ? " " : "", static_cast<unsigned char>(head[i]));
    throw IoError(fmt::format("{}: not a PyTorch checkpoint (no zip container; first bytes {})", name, hex));
  }
  // Before LibTorch allocates any record (resource limit: a 100 GB entry must fail here, in milliseconds).
  try {
    check_zip_directory(*in, name);
  } catch (const c10::Error& e) {  // FileAdapter::read
    throw IoError(fmt::format("{}: cannot read file ({})", name, first_line(e.what_without_backtrace())));
  }

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::move(in));
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: corrupt or truncated zip container ({})", name,
                              first_line(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    // Fuzzing fix: PyTorchStreamReader parses the 'version' record with std::stoull, which throws
    // std::invalid_argument / std::out_of_range (not c10::Error) for a non-numeric or huge version.
    throw IoError(fmt::format("{}: corrupt zip container (bad version record: {})", name, first_line(e.what())));
  }
  try {
    CONVDYN_CHECK(reader->hasRecord("data.pkl"), IoError,
                  "{}: zip container has no data.pkl (a TorchScript archive or not a torch.save file?)", name);
    if (reader->hasRecord("byteorder")) {
      auto [ptr, n] = reader->getRecord("byteorder");
      std::string order(static_cast<const char*>(ptr.get()), n);
      CONVDYN_CHECK(order == "little", IoError, "{}: byte order '{}' is not supported", name, order);
    }
    auto [pkl, pkl_size] = reader->getRecord("data.pkl");
    StorageLoader loader = [&](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
      const std::string rec = "data/" + key;
      CONVDYN_CHECK(reader->hasRecord(rec), IoError, "{}: storage record '{}' is missing", name, rec);
      const auto elem = static_cast<std::int64_t>(c10::elementSize(dtype));
      // Refuse sizes the file cannot hold before anything is allocated.
      CONVDYN_CHECK(numel <= static_cast<std::int64_t>(file_size) / elem, IoError,
                    "{}: storage '{}' claims {} elements, more than the file of {} bytes can hold", name, key,
                    numel, file_size);
      auto [ptr, nbytes] = reader->getRecord(rec);
      CONVDYN_CHECK(static_cast<std::int64_t>(nbytes) >= numel * elem, IoError,
                    "{}: storage '{}' has {} bytes, {} expected", name, key, nbytes, numel * elem);
      at::Tensor t = at::empty({static_cast<std::int64_t>(nbytes) / elem}, at::TensorOptions().dtype(dtype));
      if (nbytes) std::memcpy(t.data_ptr(), ptr.get(), static_cast<std::size_t>(t.numel() * elem));
      return t;
    };
    return unpickle(static_cast<const std::uint8_t*>(pkl.get()), pkl_size, loader, name);
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: corrupt zip container ({})", name, first_line(e.what_without_backtrace())));
  }
}

}  // namespace

PyRef read_pth(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVDYN_CHECK(fs::exists(path, ec), IoError, "{}: no such file", path);
  CONVDYN_CHECK(!fs::is_directory(path, ec), IoError, "{}: is a directory, not a checkpoint file", path);
  std::shared_ptr<ReadAdapterInterface> in;
  try {
    in = std::make_shared<caffe2::serialize::FileAdapter>(path);
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: cannot open file ({})", path, std::strerror(errno)));
  }
  return read_pth_container(std::move(in), path);
}

PyRef read_pth(const std::uint8_t* data, std::size_t size, const std::string& name) {
  return read_pth_container(std::make_shared<BufferReadAdapter>(data, size), name);
}

}  // namespace convdyn::model
