// The operators the Python package hands to convdyn's solvers: a Python object's matvec called back from C++,
// and a wrapper that lets Ctrl-C stop a solve that runs with the GIL released.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <string>

#include "linalg/linear_operator.hpp"

namespace convdyn::python {

namespace py = pybind11;

/// Takes the GIL and raises the pending Python signal (KeyboardInterrupt from Ctrl-C) as a C++ exception
/// (py::error_already_set) that unwinds the solver; a no-op when no signal is pending.
void check_signals();

/// A native operator as the Python package holds it: shared, so that an operator built from a model stays
/// valid while Python references it.
struct Operator {
  std::shared_ptr<const linalg::LinearOperator> op;
  std::string name;  ///< model operator name, or "" for conv_operator()
  /// Held (with the GIL released) while `op` is applied: operators are not thread-safe (matvec counters, a zoo
  /// Jacobian's retained autograd graph), and Python threads may share one.
  std::shared_ptr<std::mutex> busy = std::make_shared<std::mutex>();
};

/// `inner` applied unchanged (same numbers, same matvec order), with check_signals() before every apply.
class Interruptible final : public linalg::LinearOperator {
 public:
  explicit Interruptible(const linalg::LinearOperator& inner);
  std::string describe() const override { return inner_.describe(); }
  bool has_transpose() const override { return inner_.has_transpose(); }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;
  const linalg::LinearOperator& inner_;
};

/// y = matvec(x) of a Python callable, one vector at a time, in float64 on the CPU. `matvec` takes a float64
/// numpy vector of length n (a fresh array per call) and must return a float64 C-contiguous vector of length
/// n (the package's Python layer wraps the user's function to guarantee that, and names it in errors).
/// Takes the GIL for each call; Python exceptions propagate as py::error_already_set. Construct and destroy
/// with the GIL held; the callable must outlive the operator.
class PyCallbackOperator final : public linalg::LinearOperator {
 public:
  PyCallbackOperator(std::int64_t n, py::handle matvec, py::handle rmatvec, std::string what);
  std::string describe() const override { return what_; }
  bool has_transpose() const override { return static_cast<bool>(rmatvec_) && !rmatvec_.is_none(); }

 private:
  at::Tensor apply_impl(const at::Tensor& x) const override;
  at::Tensor apply_transpose_impl(const at::Tensor& x) const override;
  at::Tensor call(py::handle fn, const at::Tensor& x) const;
  py::handle matvec_, rmatvec_;
  std::string what_;
};

}  // namespace convdyn::python
