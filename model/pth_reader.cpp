#include "model/pth_reader.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "linalg/error.hpp"

namespace convdyn::model {

bool looks_like_zip(const std::string& head) { return head.size() >= 4 && head.compare(0, 4, "PK\x03\x04") == 0; }

namespace {

std::string read_head(const std::string& path, std::size_t n) {
  std::ifstream f(path, std::ios::binary);
  CONVDYN_CHECK(f.good(), IoError, "{}: cannot open file ({})", path, std::strerror(errno));
  std::string head(n, '\0');
  f.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<std::size_t>(f.gcount()));
  return head;
}

// c10::Error messages carry a backtrace; keep the first line of the message only.
std::string first_line(const char* msg) {
  std::string s(msg);
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

PyRef read_pth(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVDYN_CHECK(fs::exists(path, ec), IoError, "{}: no such file", path);
  CONVDYN_CHECK(!fs::is_directory(path, ec), IoError, "{}: is a directory, not a checkpoint file", path);
  const auto file_size = fs::file_size(path, ec);
  CONVDYN_CHECK(!ec, IoError, "{}: cannot read file size ({})", path, ec.message());
  const std::string head = read_head(path, 16);
  CONVDYN_CHECK(!head.empty(), IoError, "{}: file is empty", path);
  if (!looks_like_zip(head)) {
    // torch.save before 1.6 (or _use_new_zipfile_serialization=False) writes a bare pickle stream that
    // starts with protocol 2 and a LONG1 magic number.
    CONVDYN_CHECK(!(static_cast<unsigned char>(head[0]) == 0x80 && head.size() > 2 &&
                    static_cast<unsigned char>(head[2]) == 0x8a),
                  IoError,
                  "{}: legacy (pre-1.6) torch.save format is not supported; re-save it with a current "
                  "PyTorch: torch.save(torch.load(f), g)",
                  path);
    std::string hex;
    for (std::size_t i = 0; i < std::min<std::size_t>(4, head.size()); ++i)
      hex += fmt::format("{}{:02x}", i ? " " : "", static_cast<unsigned char>(head[i]));
    throw IoError(fmt::format("{}: not a PyTorch checkpoint (no zip container; first bytes {})", path, hex));
  }

  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: corrupt or truncated zip container ({})", path,
                              first_line(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    // Fuzzing fix: PyTorchStreamReader parses the 'version' record with std::stoull, which throws
    // std::invalid_argument / std::out_of_range (not c10::Error) for a non-numeric or huge version.
    throw IoError(fmt::format("{}: corrupt zip container (bad version record: {})", path, first_line(e.what())));
  }
  try {
    CONVDYN_CHECK(reader->hasRecord("data.pkl"), IoError,
                  "{}: zip container has no data.pkl (a TorchScript archive or not a torch.save file?)", path);
    if (reader->hasRecord("byteorder")) {
      auto [ptr, n] = reader->getRecord("byteorder");
      std::string order(static_cast<const char*>(ptr.get()), n);
      CONVDYN_CHECK(order == "little", IoError, "{}: byte order '{}' is not supported", path, order);
    }
    auto [pkl, pkl_size] = reader->getRecord("data.pkl");
    StorageLoader loader = [&](const std::string& key, c10::ScalarType dtype, std::int64_t numel) {
      const std::string rec = "data/" + key;
      CONVDYN_CHECK(reader->hasRecord(rec), IoError, "{}: storage record '{}' is missing", path, rec);
      const auto elem = static_cast<std::int64_t>(c10::elementSize(dtype));
      // Refuse sizes the file cannot hold before anything is allocated.
      CONVDYN_CHECK(numel <= static_cast<std::int64_t>(file_size) / elem, IoError,
                    "{}: storage '{}' claims {} elements, more than the file of {} bytes can hold", path, key,
                    numel, file_size);
      auto [ptr, nbytes] = reader->getRecord(rec);
      CONVDYN_CHECK(static_cast<std::int64_t>(nbytes) >= numel * elem, IoError,
                    "{}: storage '{}' has {} bytes, {} expected", path, key, nbytes, numel * elem);
      at::Tensor t = at::empty({static_cast<std::int64_t>(nbytes) / elem}, at::TensorOptions().dtype(dtype));
      if (nbytes) std::memcpy(t.data_ptr(), ptr.get(), static_cast<std::size_t>(t.numel() * elem));
      return t;
    };
    return unpickle(static_cast<const std::uint8_t*>(pkl.get()), pkl_size, loader, path);
  } catch (const c10::Error& e) {
    throw IoError(fmt::format("{}: corrupt zip container ({})", path, first_line(e.what_without_backtrace())));
  }
}

}  // namespace convdyn::model
