#include "operators.hpp"

#include <pybind11/numpy.h>

#include <ATen/ATen.h>

#include <cstring>

#include "linalg/error.hpp"

namespace convdyn::python {

void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

Interruptible::Interruptible(const linalg::LinearOperator& inner)
    : LinearOperator(inner.size(), inner.dtype(), inner.device()), inner_(inner) {}

at::Tensor Interruptible::apply_impl(const at::Tensor& x) const {
  check_signals();
  return inner_.apply(x);
}

at::Tensor Interruptible::apply_transpose_impl(const at::Tensor& x) const {
  check_signals();
  return inner_.apply_transpose(x);
}

PyCallbackOperator::PyCallbackOperator(std::int64_t n, py::handle matvec, py::handle rmatvec, std::string what)
    : LinearOperator(n, at::kDouble, c10::Device(c10::DeviceType::CPU)),
      matvec_(matvec),
      rmatvec_(rmatvec),
      what_(std::move(what)) {}

at::Tensor PyCallbackOperator::apply_impl(const at::Tensor& x) const { return call(matvec_, x); }

at::Tensor PyCallbackOperator::apply_transpose_impl(const at::Tensor& x) const { return call(rmatvec_, x); }

at::Tensor PyCallbackOperator::call(py::handle fn, const at::Tensor& x) const {
  const std::int64_t n = size();
  auto y = at::empty_like(x);
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    py::array_t<double> v(n);
    std::memcpy(v.mutable_data(), x.data_ptr<double>() + i * n, sizeof(double) * n);
    auto r = py::array_t<double, py::array::c_style>::ensure(fn(v));
    CONVDYN_CHECK(r && r.ndim() == 1 && r.size() == n, ValueError, "{}: matvec must return a float64 vector of "
                  "length {}", what_, n);
    std::memcpy(y.data_ptr<double>() + i * n, r.data(), sizeof(double) * n);
  }
  return y;
}

}  // namespace convdyn::python
