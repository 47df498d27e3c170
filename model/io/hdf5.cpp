#include "model/io/hdf5.hpp"

#include "linalg/error.hpp"

namespace convdyn::model::hdf5 {

Handle::Handle(hid_t id, Closer close, const std::string& what) : id_(id), close_(close) {
  CONVDYN_CHECK(id >= 0, IoError, "{}: {}", what, error_text());
}

Handle Handle::adopt(hid_t id, Closer close) noexcept {
  Handle h;
  h.id_ = id;
  h.close_ = close;
  return h;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() noexcept {
  if (id_ >= 0 && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

void Handle::close(const std::string& what) {
  if (id_ < 0) return;
  const herr_t st = close_(id_);
  id_ = H5I_INVALID_HID;
  check(st, what);
}

Silence::Silence() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}
Silence::~Silence() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

std::string error_text() {
  std::vector<std::string> msgs;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e->desc && *e->desc) static_cast<std::vector<std::string>*>(data)->emplace_back(e->desc);
        return 0;
      },
      &msgs);
  H5Eclear2(H5E_DEFAULT);
  if (msgs.empty()) return "HDF5 error";
  return msgs.size() == 1 || msgs.front() == msgs.back() ? msgs.front() : msgs.front() + ": " + msgs.back();
}

void check(herr_t status, const std::string& what) {
  CONVDYN_CHECK(status >= 0, IoError, "{}: {}", what, error_text());
}

Handle complex_type() {
  Handle t(H5Tcreate(H5T_COMPOUND, 2 * sizeof(double)), H5Tclose, "HDF5 complex type");
  check(H5Tinsert(t.get(), "r", 0, H5T_NATIVE_DOUBLE), "HDF5 complex type");
  check(H5Tinsert(t.get(), "i", sizeof(double), H5T_NATIVE_DOUBLE), "HDF5 complex type");
  return t;
}

void write_attr(hid_t obj, const char* name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "HDF5 string type");
  check(H5Tset_size(type.get(), value.empty() ? 1 : value.size()), "HDF5 string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "HDF5 string type");
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "HDF5 scalar space");
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
              fmt::format("attribute '{}'", name));
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(attr.get(), type.get(), v.data()), fmt::format("attribute '{}'", name));
}

namespace {
template <typename T>
void write_scalar_attr(hid_t obj, const char* name, hid_t file_type, hid_t mem_type, T value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, "HDF5 scalar space");
  Handle attr(H5Acreate2(obj, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
              fmt::format("attribute '{}'", name));
  check(H5Awrite(attr.get(), mem_type, &value), fmt::format("attribute '{}'", name));
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
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
               fmt::format("dataspace of '{}'", name));
  Handle ds(H5Dcreate2(parent, name, mem_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
            fmt::format("dataset '{}'", name));
  check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), fmt::format("dataset '{}'", name));
}

}  // namespace convdyn::model::hdf5
