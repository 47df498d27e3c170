// The HDF5 results file (schema: docs/results-format.md). Written atomically: a temporary file in the
// same folder, renamed into place by commit(); an error before that leaves no file behind.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "linalg/eig_result.hpp"

namespace convdyn::analysis {

/// Bumped whenever a reader would need to change. Readers check it (python/convdyn/results.py).
inline constexpr int kSchemaVersion = 5;

struct RunInfo {
  std::string checkpoint;       ///< path as given
  std::string checkpoint_sha256;
  std::string architecture;     ///< e.g. "CordsNet (depth 4)"
  std::string command_line;     ///< the full command line, shell-quoted
};

/// What is known about the operator a spectrum belongs to.
struct LayerInfo {
  std::string name;  ///< e.g. "area_conv.3"
  std::int64_t n = 0, channels = 0, height = 0, width = 0, kernel = 0;
  std::string padding = "zero";
  std::string parametrisation;
  std::string dtype = "float64";
  std::string device = "cpu";
};

struct LayerSpectrum {
  LayerInfo layer;
  linalg::EigResult result;
};

/// A chunked, compressed N-D dataset of the results file, written in slabs along its first dimension, so that
/// arrays larger than memory (recorded activity [N, T, C, H, W]) never have to be held at once.
class ResultsArray {
 public:
  enum class Type { Float32, Float64, Int64 };
  ResultsArray(ResultsArray&&) noexcept;
  ResultsArray& operator=(ResultsArray&&) noexcept;
  ~ResultsArray();
  /// Writes rows [first, first + rows) of dimension 0 from `data`: C order, the element type of the array,
  /// the other dimensions complete. Throws IoError for rows outside the array or an HDF5 failure.
  void write(std::int64_t first, std::int64_t rows, const void* data);
  void attr(const char* name, const std::string& value);
  void attr(const char* name, long long value);
  void attr(const char* name, double value);
  const std::vector<std::int64_t>& dims() const { return dims_; }
  Type type() const { return type_; }

 private:
  friend class ResultsGroup;
  struct Handle;
  ResultsArray(std::unique_ptr<Handle> h, std::string path, Type type, std::vector<std::int64_t> dims);
  std::unique_ptr<Handle> h_;
  std::string path_;  ///< "<file>: /run/logits", for messages
  Type type_;
  std::vector<std::int64_t> dims_;
};

/// A group of the results file being written: attributes and 1-D datasets.
class ResultsGroup {
 public:
  ResultsGroup(ResultsGroup&&) noexcept;
  ResultsGroup& operator=(ResultsGroup&&) noexcept;
  ~ResultsGroup();
  void attr(const char* name, const std::string& value);
  void attr(const char* name, const char* value) { attr(name, std::string(value)); }
  void attr(const char* name, long long value);
  void attr(const char* name, double value);
  void attr(const char* name, bool value) { attr(name, static_cast<long long>(value ? 1 : 0)); }
  /// complex128 as the compound {r, i}
  void dataset(const char* name, const Eigen::VectorXcd& values);
  void dataset(const char* name, const Eigen::VectorXd& values);
  /// A 2-D f64 dataset (rows, cols), stored row-major as HDF5 and numpy index it: [row][col].
  void matrix(const char* name, const Eigen::MatrixXd& values);
  /// A new array `name` of `dims` (every dim >= 1), filled later by ResultsArray::write; chunks of about
  /// 1 MiB along the last dimensions (one row of dim 0 at most), shuffle + deflate level `deflate` (0 = none).
  ResultsArray array(const char* name, ResultsArray::Type type, const std::vector<std::int64_t>& dims,
                     int deflate = 4);
  /// The subgroup `name`, created if missing.
  ResultsGroup group(const std::string& name);
  const std::string& path() const { return path_; }

 private:
  friend class ResultsWriter;
  struct Handle;
  ResultsGroup(std::unique_ptr<Handle> h, std::string path, std::string file);
  std::unique_ptr<Handle> h_;
  std::string path_, file_;
};

class ResultsWriter {
 public:
  /// Creates the temporary file now, so an unwritable destination fails before any computation.
  /// Throws IoError when `path` exists and `force` is false, or it cannot be written.
  enum class Mode { Create, Append };
  /// Append: add to an existing results file of the same checkpoint (sha256 checked) and schema version;
  /// the file is copied, extended and renamed back, so it is never left half-written.
  ResultsWriter(std::string path, bool force, const RunInfo& info, Mode mode = Mode::Create);
  ~ResultsWriter();
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;

  /// /layers/<name>/{eigenvalues, residuals, converged, eigenvectors} and the layer's attributes.
  void write_layer(const LayerSpectrum& s);
  /// Whether the file holds /layers/<name> (from this writer or the appended file); `name` may hold '/'.
  bool has_layer(const std::string& name) const;
  /// The group at `path` (e.g. "stability/area_conv.0"), created with its parents if missing.
  ResultsGroup group(const std::string& path);
  /// Closes the file and renames it to `path`.
  void commit();
  const std::string& path() const { return path_; }

 private:
  void open_file(const RunInfo& info, bool append, const std::string& dir);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, tmp_;
  bool committed_ = false;
  std::set<std::string> created_;  ///< top-level groups this writer made (others must not pre-exist)
};

/// Current UTC time as ISO 8601 ("2026-11-23T20:15:00Z").
std::string utc_timestamp();

}  // namespace convdyn::analysis
