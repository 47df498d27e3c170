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

std::string read_string_attr(hid_t obj, const char* name, const std::string& what) {
  const std::string w = fmt::format("{}: attribute '{}'", what, name);
  Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, w);
  Handle t(H5Aget_type(a.get()), H5Tclose, w);
  CONVDYN_CHECK(H5Tget_class(t.get()) == H5T_STRING && H5Tis_variable_str(t.get()) == 0, IoError,
                "{}: not a fixed-length string", w);
  std::string s(H5Tget_size(t.get()), '\0');
  check(H5Aread(a.get(), t.get(), s.data()), w);
  return s.substr(0, s.find('\0'));
}

namespace {
template <typename T>
T read_number_attr(hid_t obj, const char* name, hid_t mem_type, const std::string& what) {
  const std::string w = fmt::format("{}: attribute '{}'", what, name);
  Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, w);
  Handle t(H5Aget_type(a.get()), H5Tclose, w);
  const auto cls = H5Tget_class(t.get());
  CONVDYN_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, IoError, "{}: not a number", w);
  T v{};
  check(H5Aread(a.get(), mem_type, &v), w);
  return v;
}
}  // namespace

long long read_int_attr(hid_t obj, const char* name, const std::string& what) {
  return read_number_attr<long long>(obj, name, H5T_NATIVE_LLONG, what);
}
double read_double_attr(hid_t obj, const char* name, const std::string& what) {
  return read_number_attr<double>(obj, name, H5T_NATIVE_DOUBLE, what);
}

void copy_attributes(hid_t from, hid_t to, const std::string& what) {
  struct Ctx {
    hid_t to;
    const std::string* what;
  } ctx{to, &what};
  const herr_t st = H5Aiterate2(
      from, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t loc, const char* name, const H5A_info_t*, void* data) -> herr_t {
        auto& c = *static_cast<Ctx*>(data);
        const hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
        if (a < 0) return -1;
        const hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
        herr_t rc = -1;
        if (t >= 0 && sp >= 0 && H5Tis_variable_str(t) == 0 && H5Tdetect_class(t, H5T_VLEN) == 0) {
          std::vector<char> buf(H5Aget_storage_size(a) + 1);
          if (H5Aread(a, t, buf.data()) >= 0) {
            const hid_t b = H5Acreate2(c.to, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
            if (b >= 0) {
              rc = H5Awrite(b, t, buf.data());
              H5Aclose(b);
            }
          }
        }
        if (sp >= 0) H5Sclose(sp);
        if (t >= 0) H5Tclose(t);
        H5Aclose(a);
        return rc < 0 ? -1 : 0;
      },
      &ctx);
  check(st, fmt::format("{}: copying attributes", what));
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
