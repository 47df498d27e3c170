// Minimal RAII over the HDF5 C API: move-only handles and checked calls (internal to analysis/).
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace convdyn::analysis::detail {

/// Owns one HDF5 id; closes it (never throwing) on destruction.
class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  /// Throws IoError with `what` and HDF5's error text when `id` is negative.
  H5Handle(hid_t id, Closer close, const std::string& what);
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { reset(); }
  hid_t get() const noexcept { return id_; }
  void reset() noexcept;
  /// Closes now and reports failure (e.g. a flush error on a file) instead of swallowing it.
  void close(const std::string& what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

/// Throws IoError when an HDF5 call returned a negative status.
void h5_check(herr_t status, const std::string& what);
/// Disables HDF5's automatic printing of its error stack (errors become exceptions instead).
void h5_silence();

/// The complex128 compound {r: f64, i: f64} that h5py reads as complex.
H5Handle complex_type();

void write_attr(hid_t obj, const char* name, const std::string& value);
void write_attr(hid_t obj, const char* name, long long value);
void write_attr(hid_t obj, const char* name, double value);

/// A new dataset `name` under `parent` with `dims`, filled from `data` in C order.
void write_dataset(hid_t parent, const char* name, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data);

}  // namespace convdyn::analysis::detail
