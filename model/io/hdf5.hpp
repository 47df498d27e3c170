// Minimal RAII over the HDF5 C API, shared by the image reader (model/io/images.cpp) and the results writer
// (analysis/results.cpp): move-only handles, checked calls, a scoped guard against HDF5's own stderr printing.
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace convdyn::model::hdf5 {

/// Owns one HDF5 id; closes it (never throwing) on destruction.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  /// Takes `id`; throws IoError "<what>: <HDF5's message>" when it is negative.
  Handle(hid_t id, Closer close, const std::string& what);
  /// Takes `id` without checking it (test valid()): for callers that word their own error.
  static Handle adopt(hid_t id, Closer close) noexcept;
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  void reset() noexcept;
  /// Closes now and reports failure (e.g. a flush error on a file) instead of swallowing it.
  void close(const std::string& what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

/// Turns off HDF5's printing of its error stack for the scope (errors become exceptions instead) and
/// restores the previous handler afterwards.
class Silence {
 public:
  Silence();
  ~Silence();
  Silence(const Silence&) = delete;
  Silence& operator=(const Silence&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// The current HDF5 error stack as one line (outermost and innermost message), then clears it.
std::string error_text();
/// Throws IoError "<what>: <error_text()>" when an HDF5 call returned a negative status.
void check(herr_t status, const std::string& what);

/// The complex128 compound {r: f64, i: f64} that h5py reads as complex.
Handle complex_type();

void write_attr(hid_t obj, const char* name, const std::string& value);
void write_attr(hid_t obj, const char* name, long long value);
void write_attr(hid_t obj, const char* name, double value);

/// Attribute readers; `what` names the object in the IoError when the attribute is missing or of another kind.
std::string read_string_attr(hid_t obj, const char* name, const std::string& what);
long long read_int_attr(hid_t obj, const char* name, const std::string& what);
double read_double_attr(hid_t obj, const char* name, const std::string& what);
/// Copies every attribute of `from` to `to` (same types, raw bytes; fixed-size types only, as convdyn writes).
void copy_attributes(hid_t from, hid_t to, const std::string& what);

/// A new dataset `name` under `parent` with `dims`, filled from `data` in C order.
void write_dataset(hid_t parent, const char* name, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data);

}  // namespace convdyn::model::hdf5
