#include "analysis/results.hpp"

#include <unistd.h>

#include <complex>
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "analysis/temporary_files.hpp"
#include "linalg/error.hpp"
#include "model/io/hdf5.hpp"

#ifndef CONVDYN_VERSION
#define CONVDYN_VERSION "unknown"
#endif

namespace convdyn::analysis {

namespace hdf5 = model::hdf5;
using H5Handle = hdf5::Handle;
using hdf5::write_attr;

struct ResultsWriter::Impl {
  hdf5::Silence quiet;  // HDF5 errors become IoErrors while the file is open, not stderr output
  H5Handle file;
  H5Handle layers;
};

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using hdf5::read_string_attr;

ResultsWriter::ResultsWriter(std::string path, bool force, const RunInfo& info, Mode mode)
    : impl_(std::make_unique<Impl>()), path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CONVDYN_CHECK(!path_.empty(), IoError, "output path is empty");
  const bool append = mode == Mode::Append;
  if (append) {
    CONVDYN_CHECK(fs::is_regular_file(path_, ec), IoError, "{}: --append needs an existing results file", path_);
  } else {
    CONVDYN_CHECK(force || !fs::exists(path_, ec), IoError, "{}: already exists (use --force to overwrite)", path_);
  }
  CONVDYN_CHECK(!fs::is_directory(path_, ec), IoError, "{}: is a directory", path_);
  const fs::path p(path_);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  CONVDYN_CHECK(fs::is_directory(dir, ec), IoError, "{}: cannot write: folder '{}' does not exist", path_,
                dir.string());
  remove_stale_temporaries(path_);  // of runs killed before they could clean up
  tmp_ = temporary_path(path_);
  register_temporary(tmp_);
  // A constructor that throws runs no destructor: remove the temporary file here.
  try {
    open_file(info, append, dir.string());
  } catch (...) {
    impl_.reset();
    fs::remove(tmp_, ec);
    unregister_temporary(tmp_);
    throw;
  }
}

void ResultsWriter::open_file(const RunInfo& info, bool append, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // STRONG: closing the file closes any group still open, so commit() always flushes everything.
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "HDF5 file access properties");
  hdf5::check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "HDF5 file access properties");
  if (append) {
    // Work on a copy: the original stays intact until the new file is complete.
    fs::copy_file(path_, tmp_, fs::copy_options::overwrite_existing, ec);
    CONVDYN_CHECK(!ec, IoError, "{}: cannot write a copy in '{}' ({})", path_, dir, ec.message());
    impl_->file = H5Handle(H5Fopen(tmp_.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose,
                           fmt::format("{}: not an HDF5 results file", path_));
    const hid_t f = impl_->file.get();
    long long version = -1;
    if (H5Aexists(f, "schema_version") > 0) {
      H5Handle a(H5Aopen(f, "schema_version", H5P_DEFAULT), H5Aclose, path_);
      H5Aread(a.get(), H5T_NATIVE_LLONG, &version);
    }
    CONVDYN_CHECK(version == kSchemaVersion, IoError, "{}: schema version {} cannot be appended to (this convdyn writes {})",
                  path_, version, kSchemaVersion);
    const std::string sha = read_string_attr(f, "checkpoint_sha256", path_);
    CONVDYN_CHECK(sha == info.checkpoint_sha256, IoError,
                  "{}: holds results of another checkpoint (sha256 {}...), not of {}", path_, sha.substr(0, 12),
                  info.checkpoint);
    impl_->layers = H5Handle(H5Gopen2(f, "layers", H5P_DEFAULT), H5Gclose, fmt::format("{}: group /layers", path_));
    return;
  }
  try {
    impl_->file = H5Handle(H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
                           fmt::format("{}: cannot write", path_));
  } catch (const IoError&) {
    throw IoError(fmt::format("{}: cannot write (folder '{}' is not writable)", path_, dir));
  }
  const hid_t f = impl_->file.get();
  write_attr(f, "schema_version", static_cast<long long>(kSchemaVersion));
  write_attr(f, "convdyn_version", std::string(CONVDYN_VERSION));
  write_attr(f, "checkpoint", info.checkpoint);
  write_attr(f, "checkpoint_sha256", info.checkpoint_sha256);
  write_attr(f, "architecture", info.architecture);
  write_attr(f, "command_line", info.command_line);
  write_attr(f, "created_utc", utc_timestamp());
  impl_->layers = H5Handle(H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                           fmt::format("{}: group /layers", path_));
}

ResultsWriter::~ResultsWriter() {
  if (committed_) return;
  impl_.reset();  // close handles before removing the file
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
  unregister_temporary(tmp_);
}

bool ResultsWriter::has_layer(const std::string& name) const {
  // H5Lexists needs every intermediate group to exist: test the path one part at a time.
  std::string prefix;
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto slash = name.find('/', start);
    prefix += (prefix.empty() ? "" : "/") + name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (H5Lexists(impl_->layers.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return !name.empty();
}

void ResultsWriter::write_layer(const LayerSpectrum& s) {
  CONVDYN_CHECK(!committed_, IoError, "{}: already committed", path_);
  const auto& L = s.layer;
  const auto& r = s.result;
  const std::string what = fmt::format("{}: /layers/{}", path_, L.name);
  CONVDYN_CHECK(H5Lexists(impl_->layers.get(), L.name.c_str(), H5P_DEFAULT) <= 0, IoError,
                "{}: already holds /layers/{} (write to a new file, or --force without --append)", path_, L.name);
  // Operator names may hold '/' (a zoo cell's linear parts, "conv4/gates/r/h"): nested groups.
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose, what);
  CONVDYN_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1) >= 0, IoError, "{}: HDF5 property list", what);
  H5Handle g(H5Gcreate2(impl_->layers.get(), L.name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
             what);
  const auto k = static_cast<hsize_t>(r.values.size());
  auto ctype = hdf5::complex_type();
  // Eigen stores std::complex<double> as (re, im) pairs: the compound's layout.
  hdf5::write_dataset(g.get(), "eigenvalues", ctype.get(), {k}, r.values.data());
  if (r.residuals.size() == r.values.size() && k > 0)
    hdf5::write_dataset(g.get(), "residuals", H5T_NATIVE_DOUBLE, {k}, r.residuals.data());
  if (r.condition.size() == r.values.size() && k > 0) {
    hdf5::write_dataset(g.get(), "condition", H5T_NATIVE_DOUBLE, {k}, r.condition.data());
    hdf5::write_dataset(g.get(), "error_bound", H5T_NATIVE_DOUBLE, {k}, r.error_bound.data());
  }
  if (r.converged.size() == r.values.size()) {
    std::vector<std::uint8_t> conv(static_cast<std::size_t>(k));
    for (hsize_t i = 0; i < k; ++i) conv[i] = r.converged[static_cast<Eigen::Index>(i)] ? 1 : 0;
    hdf5::write_dataset(g.get(), "converged", H5T_NATIVE_UINT8, {k}, conv.data());
  }
  if (r.vectors.cols() > 0) {
    CONVDYN_ASSERT(r.vectors.rows() == L.n, "eigenvector length {} != n {}", r.vectors.rows(), L.n);
    // [p, C, H, W]: transpose so each eigenvector is contiguous (Eigen is column-major).
    Eigen::MatrixXcd rows = r.vectors.transpose();
    Eigen::Matrix<std::complex<double>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = rows;
    hdf5::write_dataset(g.get(), "eigenvectors", ctype.get(),
                          {static_cast<hsize_t>(r.vectors.cols()), static_cast<hsize_t>(L.channels),
                           static_cast<hsize_t>(L.height), static_cast<hsize_t>(L.width)},
                          rm.data());
  }
  const hid_t id = g.get();
  write_attr(id, "n", static_cast<long long>(L.n));
  write_attr(id, "channels", static_cast<long long>(L.channels));
  write_attr(id, "height", static_cast<long long>(L.height));
  write_attr(id, "width", static_cast<long long>(L.width));
  write_attr(id, "kernel", static_cast<long long>(L.kernel));
  write_attr(id, "padding", L.padding);
  write_attr(id, "parametrisation", L.parametrisation);
  write_attr(id, "method", r.method);
  write_attr(id, "which", std::string(linalg::to_string(r.which)));
  write_attr(id, "k", static_cast<long long>(k));
  write_attr(id, "dtype", L.dtype);
  write_attr(id, "device", L.device);
  write_attr(id, "seconds", r.seconds);
  write_attr(id, "tol", r.tol);
  write_attr(id, "matvecs", static_cast<long long>(r.matvecs));
  write_attr(id, "restarts", static_cast<long long>(r.restarts));
  write_attr(id, "stop_reason", std::string(linalg::to_string(r.reason)));
  write_attr(id, "search_rounds", static_cast<long long>(r.search_rounds));
  write_attr(id, "search_found", static_cast<long long>(r.search_found));
  write_attr(id, "search_complete", static_cast<long long>(r.search_complete ? 1 : 0));
  write_attr(id, "all_converged", static_cast<long long>(r.all_converged() ? 1 : 0));
  if (!r.message.empty()) write_attr(id, "message", r.message);
  g.close(what);
}

struct ResultsGroup::Handle {
  H5Handle id;
};

ResultsGroup::ResultsGroup(std::unique_ptr<Handle> h, std::string path, std::string file)
    : h_(std::move(h)), path_(std::move(path)), file_(std::move(file)) {}
ResultsGroup::ResultsGroup(ResultsGroup&&) noexcept = default;
ResultsGroup& ResultsGroup::operator=(ResultsGroup&&) noexcept = default;
ResultsGroup::~ResultsGroup() = default;

namespace {
H5Handle open_or_create_group(hid_t parent, const std::string& name, const std::string& what) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) > 0)
    return H5Handle(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), H5Gclose, what);
  return H5Handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose, what);
}
}  // namespace

void ResultsGroup::attr(const char* name, const std::string& value) { write_attr(h_->id.get(), name, value); }
void ResultsGroup::attr(const char* name, long long value) { write_attr(h_->id.get(), name, value); }
void ResultsGroup::attr(const char* name, double value) { write_attr(h_->id.get(), name, value); }

void ResultsGroup::dataset(const char* name, const Eigen::VectorXcd& values) {
  auto ctype = hdf5::complex_type();
  hdf5::write_dataset(h_->id.get(), name, ctype.get(), {static_cast<hsize_t>(values.size())}, values.data());
}

void ResultsGroup::dataset(const char* name, const Eigen::VectorXd& values) {
  hdf5::write_dataset(h_->id.get(), name, H5T_NATIVE_DOUBLE, {static_cast<hsize_t>(values.size())},
                        values.data());
}

void ResultsGroup::matrix(const char* name, const Eigen::MatrixXd& values) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = values;
  hdf5::write_dataset(h_->id.get(), name, H5T_NATIVE_DOUBLE,
                      {static_cast<hsize_t>(values.rows()), static_cast<hsize_t>(values.cols())}, row_major.data());
}

struct ResultsArray::Handle {
  H5Handle id;
};

ResultsArray::ResultsArray(std::unique_ptr<Handle> h, std::string path, Type type, std::vector<std::int64_t> dims)
    : h_(std::move(h)), path_(std::move(path)), type_(type), dims_(std::move(dims)) {}
ResultsArray::ResultsArray(ResultsArray&&) noexcept = default;
ResultsArray& ResultsArray::operator=(ResultsArray&&) noexcept = default;
ResultsArray::~ResultsArray() = default;

namespace {
hid_t memory_type(ResultsArray::Type t) {
  switch (t) {
    case ResultsArray::Type::Float32: return H5T_NATIVE_FLOAT;
    case ResultsArray::Type::Float64: return H5T_NATIVE_DOUBLE;
    case ResultsArray::Type::Int64: return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_DOUBLE;
}
hid_t file_type(ResultsArray::Type t) {
  switch (t) {
    case ResultsArray::Type::Float32: return H5T_IEEE_F32LE;
    case ResultsArray::Type::Float64: return H5T_IEEE_F64LE;
    case ResultsArray::Type::Int64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F64LE;
}
std::size_t element_size(ResultsArray::Type t) { return t == ResultsArray::Type::Float32 ? 4 : 8; }
}  // namespace

void ResultsArray::write(std::int64_t first, std::int64_t rows, const void* data) {
  CONVDYN_CHECK(first >= 0 && rows >= 0 && first + rows <= dims_[0], IoError,
                "{}: rows {}..{} are outside the array's {}", path_, first, first + rows, dims_[0]);
  if (rows == 0) return;
  std::vector<hsize_t> start(dims_.size(), 0), count(dims_.begin(), dims_.end());
  start[0] = static_cast<hsize_t>(first);
  count[0] = static_cast<hsize_t>(rows);
  H5Handle file_space(H5Dget_space(h_->id.get()), H5Sclose, path_);
  hdf5::check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
              path_);
  H5Handle mem_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose, path_);
  hdf5::check(H5Dwrite(h_->id.get(), memory_type(type_), mem_space.get(), file_space.get(), H5P_DEFAULT, data), path_);
}

void ResultsArray::attr(const char* name, const std::string& value) { write_attr(h_->id.get(), name, value); }
void ResultsArray::attr(const char* name, long long value) { write_attr(h_->id.get(), name, value); }
void ResultsArray::attr(const char* name, double value) { write_attr(h_->id.get(), name, value); }

ResultsArray ResultsGroup::array(const char* name, ResultsArray::Type type, const std::vector<std::int64_t>& dims,
                                 int deflate) {
  const std::string what = fmt::format("{}: {}/{}", file_, path_, name);
  CONVDYN_CHECK(!dims.empty(), IoError, "{}: an array needs at least one dimension", what);
  for (auto d : dims) CONVDYN_CHECK(d >= 1, IoError, "{}: dimension {} must be >= 1", what, d);
  const std::vector<hsize_t> hdims(dims.begin(), dims.end());
  // Chunks: whole trailing dimensions up to ~1 MiB, never more than one row of dimension 0.
  std::vector<hsize_t> chunk(dims.size(), 1);
  std::uint64_t bytes = element_size(type);
  constexpr std::uint64_t kChunkBytes = 1u << 20;
  for (std::size_t i = dims.size(); i-- > 1;) {
    const auto d = static_cast<std::uint64_t>(dims[i]);
    chunk[i] = std::min<std::uint64_t>(d, std::max<std::uint64_t>(1, kChunkBytes / bytes));
    bytes *= chunk[i];
    if (chunk[i] < d) break;  // a partial dimension: the leading ones stay 1
  }
  if (dims.size() == 1) chunk[0] = std::min<std::uint64_t>(hdims[0], kChunkBytes / element_size(type));
  H5Handle space(H5Screate_simple(static_cast<int>(hdims.size()), hdims.data(), nullptr), H5Sclose, what);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, what);
  hdf5::check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), what);
  if (deflate > 0) {
    hdf5::check(H5Pset_shuffle(dcpl.get()), what);
    hdf5::check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate)), what);
  }
  auto h = std::make_unique<ResultsArray::Handle>();
  h->id = H5Handle(H5Dcreate2(h_->id.get(), name, file_type(type), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                   H5Dclose, what);
  return ResultsArray(std::move(h), what, type, dims);
}

ResultsGroup ResultsGroup::group(const std::string& name) {
  const std::string p = path_ + "/" + name;
  auto h = std::make_unique<Handle>();
  h->id = open_or_create_group(h_->id.get(), name, fmt::format("{}: group {}", file_, p));
  return ResultsGroup(std::move(h), p, file_);
}

ResultsGroup ResultsWriter::group(const std::string& path) {
  CONVDYN_CHECK(!committed_, IoError, "{}: already committed", path_);
  const std::string top = path.substr(0, path.find('/'));
  // An appended file must not already hold what this run writes (e.g. a second /stability).
  CONVDYN_CHECK(top == "layers" || created_.count(top) || H5Lexists(impl_->file.get(), top.c_str(), H5P_DEFAULT) <= 0,
                IoError, "{}: already holds /{} (write to a new file)", path_, top);
  created_.insert(top);
  auto h = std::make_unique<ResultsGroup::Handle>();
  h->id = H5Handle(H5Gopen2(impl_->file.get(), "/", H5P_DEFAULT), H5Gclose, fmt::format("{}: root group", path_));
  ResultsGroup g(std::move(h), "", path_);
  std::size_t start = 0;
  while (start < path.size()) {
    const auto slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) g = g.group(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return g;
}

void ResultsWriter::commit() {
  CONVDYN_CHECK(!committed_, IoError, "{}: already committed", path_);
  impl_->layers.close(fmt::format("{}: closing /layers", path_));
  impl_->file.close(fmt::format("{}: closing file", path_));
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  CONVDYN_CHECK(!ec, IoError, "{}: cannot rename the finished file into place ({})", path_, ec.message());
  unregister_temporary(tmp_);
  committed_ = true;
}

}  // namespace convdyn::analysis
