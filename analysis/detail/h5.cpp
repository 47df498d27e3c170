#include "analysis/detail/h5.hpp"

#include "linalg/error.hpp"

namespace convdyn::analysis::detail {

namespace {
herr_t collect(unsigned n, const H5E_error2_t* e, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n < 3 && e->desc && *e->desc) *s += std::string(s->empty() ? "" : "; ") + e->desc;
  return 0;
}
std::string hdf5_error_text() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &s);
  H5Eclear2(H5E_DEFAULT);
  return s.empty() ? "HDF5 error" : s;
}
}  // namespace

void h5_silence() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

H5Handle::H5Handle(hid_t id, Closer close, const std::string& what) : id_(id), close_(close) {
  CONVDYN_CHECK(id >= 0, IoError, "{}: {}", what, hdf5_error_text());
}

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void H5Handle::reset() noexcept {
  if (id_ >= 0 && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

void H5Handle::close(const std::string& what) {
  if (id_ < 0) return;
  const herr_t st = close_(id_);
  id_ = H5I_INVALID_HID;
  h5_check(st, what);
}

void h5_check(herr_t status, const std::string& what) {
  CONVDYN_CHECK(status >= 0, IoError, "{}: {}", what, hdf5_error_text());
}

H5Handle complex_type() {
  H5Handle t(H5Tcreate(H5T_COMPOUND, 2 * sizeof(double)), H5Tclose, "HDF5 complex type");
  h5_check(H5Tinsert(t.get(), "r", 0, H5T_NATIVE_DOUBLE), "HDF5 complex type");
  h5_check(H5Tinsert(t.get(), "i", sizeof(double), H5T_NATIVE_DOUBLE), "HDF5 complex type");
  return t;
}

void write_attr(hid_t obj, const char* name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "HDF5 string type");
  h5_check(H5Tset_size(type.get(), value.empty() ? 1 : value.size()), "HDF5 string type");
  h5_check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "HDF5 string type");
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose, "HDF5 scalar space");
  H5Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                fmt::format("attribute '{}'", name));
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  h5_check(H5Awrite(attr.get(), type.get(), v.data()), fmt::format("attribute '{}'", name));
}

namespace {
template <typename T>
void write_scalar_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, T value) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose, "HDF5 scalar space");
  H5Handle attr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                fmt::format("attribute '{}'", name));
  h5_check(H5Awrite(attr.get(), mem_type, &value), fmt::format("attribute '{}'", name));
}
}  // namespace

void write_attr(hid_t obj, const char* name, long long value) {
  write_scalar_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, value);
}
void write_attr(hid_t obj, const char* name, double value) {
  write_scalar_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value);
}

void write_dataset(hid_t parent, const char* name, hid_t mem_type, const std::vector<hsize_t>& dims,
                   const void* data) {
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
                 fmt::format("dataspace of '{}'", name));
  H5Handle ds(H5Dcreate2(parent, name, mem_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
              fmt::format("dataset '{}'", name));
  h5_check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), fmt::format("dataset '{}'", name));
}

}  // namespace convdyn::analysis::detail
