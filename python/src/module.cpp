// convdyn._core: the C++ side of the Python package. The public API, its argument checks on Python objects
// and its docstrings are in python/convdyn/__init__.py; this module takes typed, already-checked arguments.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "analysis/convrnn_operators.hpp"
#include "analysis/convrnn_stability.hpp"
#include "analysis/cordsnet_stability.hpp"
#include "analysis/loaded_model.hpp"
#include "analysis/results.hpp"
#include "analysis/spectrum.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/scalar_type.hpp"
#include "linalg/solvers/condition.hpp"
#include "linalg/solvers/solve.hpp"
#include "model/io/images.hpp"
#include "operators.hpp"

#ifndef CONVDYN_VERSION
#define CONVDYN_VERSION "unknown"
#endif

namespace convdyn::python {
namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// ---- conversions -----------------------------------------------------------------------------------------

// A view of a float64 C-contiguous array as a CPU tensor (no copy); valid while `a` lives.
at::Tensor view(const Array& a) {
  std::vector<std::int64_t> shape(a.shape(), a.shape() + a.ndim());
  return at::from_blob(const_cast<double*>(a.data()), shape, at::TensorOptions().dtype(at::kDouble));
}

py::array_t<double> to_numpy(const at::Tensor& t) {
  const auto c = t.to(at::kCPU, at::kDouble).contiguous();
  std::vector<py::ssize_t> shape(c.sizes().begin(), c.sizes().end());
  py::array_t<double> out(shape);
  std::memcpy(out.mutable_data(), c.data_ptr<double>(), sizeof(double) * c.numel());
  return out;
}

py::dict result_dict(const linalg::EigResult& r) {
  py::dict d;
  d["values"] = r.values;
  d["residuals"] = r.residuals;
  d["converged"] = r.converged;
  d["vectors"] = r.vectors.size() ? py::cast(r.vectors) : py::none();
  d["method"] = r.method;
  d["which"] = linalg::to_string(r.which);
  d["tol"] = r.tol;
  d["matvecs"] = r.matvecs;
  d["restarts"] = r.restarts;
  d["seconds"] = r.seconds;
  d["stop_reason"] = linalg::to_string(r.reason);
  d["message"] = r.message;
  d["search_rounds"] = r.search_rounds;
  d["search_found"] = r.search_found;
  d["search_complete"] = r.search_complete;
  d["condition"] = r.condition.size() ? py::cast(r.condition) : py::none();
  d["error_bound"] = r.error_bound.size() ? py::cast(r.error_bound) : py::none();
  return d;
}

py::dict info_dict(const analysis::LayerInfo& L) {
  py::dict d;
  d["name"] = L.name;
  d["n"] = L.n;
  d["channels"] = L.channels;
  d["height"] = L.height;
  d["width"] = L.width;
  d["kernel"] = L.kernel;
  d["padding"] = L.padding;
  d["parametrisation"] = L.parametrisation;
  d["dtype"] = L.dtype;
  d["device"] = L.device;
  return d;
}

// The verdict by level: {"global", "linear", "fixed_points"} (analysis::VerdictLevels).
py::dict levels_dict(const analysis::VerdictLevels& v) {
  py::dict d;
  d["global"] = analysis::to_string(v.global);
  d["linear"] = analysis::to_string(v.linear);
  d["fixed_points"] = analysis::to_string(v.fixed_points);
  return d;
}

py::dict fixed_point_dict(const model::CellFixedPoint& f) {
  py::dict d;
  d["converged"] = f.converged;
  d["status"] = f.status;
  d["steps"] = f.steps;
  d["residual"] = f.residual;
  return d;
}

// ---- solver options, parsed once here ----------------------------------------------------------------------

struct SolveArgs {
  std::string method = "krylov-schur";
  std::int64_t k = 6;
  std::string which = "LR";
  double tol = 1e-10;
  std::int64_t ncv = 0;
  int maxiter = 1000;
  bool vectors = false;
  bool verify = false;
  std::uint64_t seed = 0;
  std::int64_t max_dense_n = 6000;
  bool condition = false;  ///< condition numbers and error bounds (a second solve on A^T)
};

linalg::SolveOptions solve_options(const SolveArgs& a) {
  linalg::SolveOptions o;
  o.method = linalg::parse_method(a.method);
  o.common.k = a.k;
  o.common.which = linalg::parse_which(a.which);
  o.common.tol = a.tol;
  o.common.ncv = a.ncv;
  o.common.max_restarts = a.maxiter;
  o.common.vectors = a.vectors;
  o.common.seed = a.seed;
  o.krylov_schur.verify = a.verify;
  o.max_dense_n = a.max_dense_n;
  return o;
}

SolveArgs solve_args(const py::dict& kw) {
  SolveArgs a;
  for (auto item : kw) {
    const auto key = item.first.cast<std::string>();
    const py::handle v = item.second;
    if (key == "method") a.method = v.cast<std::string>();
    else if (key == "k") a.k = v.cast<std::int64_t>();
    else if (key == "which") a.which = v.cast<std::string>();
    else if (key == "tol") a.tol = v.cast<double>();
    else if (key == "ncv") a.ncv = v.cast<std::int64_t>();
    else if (key == "maxiter") a.maxiter = v.cast<int>();
    else if (key == "vectors") a.vectors = v.cast<bool>();
    else if (key == "verify") a.verify = v.cast<bool>();
    else if (key == "seed") a.seed = v.cast<std::uint64_t>();
    else if (key == "max_dense_n") a.max_dense_n = v.cast<std::int64_t>();
    else if (key == "condition") a.condition = v.cast<bool>();
    else throw py::type_error(fmt::format("unknown solver option '{}'", key));
  }
  return a;
}

// Krylov–Schur's per-restart hook: signals, then the Python progress callable (restart, converged, k, worst
// estimate, matvecs), if any. `progress` is borrowed: the caller's frame keeps it alive during the solve.
std::function<void(const linalg::KrylovSchurProgress&)> progress_hook(py::handle progress, std::int64_t k,
                                                                      std::string label) {
  return [progress, k, label](const linalg::KrylovSchurProgress& p) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(label, p.restart, p.converged, k, p.worst_estimate, p.matvecs);
  };
}

// `busy`: the operator's lock (a convdyn.Operator may be used from several Python threads), taken after the
// GIL is released so that a thread waiting for it never holds the GIL the solve's callbacks need.
py::dict eigs_on(const linalg::LinearOperator& op, const py::dict& kw, py::handle progress, std::mutex* busy) {
  const auto args = solve_args(kw);
  auto opt = solve_options(args);
  opt.krylov_schur.progress = progress_hook(progress, opt.common.k, "");
  if (args.condition) opt.common.vectors = true;
  linalg::EigResult r;
  {
    const Interruptible checked(op);
    py::gil_scoped_release release;
    std::unique_lock<std::mutex> lock;
    if (busy) lock = std::unique_lock<std::mutex>(*busy);
    r = linalg::solve(checked, opt);
    if (args.condition) {
      linalg::add_condition_numbers(checked, r, opt);
      if (!args.vectors) r.vectors.resize(0, 0);
    }
  }
  return result_dict(r);
}

// ---- models ----------------------------------------------------------------------------------------------

struct Model {
  std::string path;
  analysis::LoadedModel m;
  std::vector<analysis::ConvRNNTarget> targets;  // zoo only
};

std::string kind_name(analysis::ModelKind k) {
  switch (k) {
    case analysis::ModelKind::CordsNet: return "cordsnet";
    case analysis::ModelKind::ConvRNN: return "convrnn";
    case analysis::ModelKind::Kernels: return "kernels";
  }
  return "kernels";
}

std::shared_ptr<Model> load(const std::string& path, const std::string& key, const std::vector<std::int64_t>& size,
                            const std::vector<std::string>& kernels, const std::string& dtype) {
  analysis::LoadModelOptions o;
  o.key = key;
  o.size = size;
  o.generic_keys = kernels;
  o.cell_dtype = linalg::parse_scalar_type(dtype);
  auto out = std::make_shared<Model>();
  out->path = path;
  {
    py::gil_scoped_release release;
    out->m = analysis::load_model(path, o);
  }
  if (out->m.convrnn) out->targets = analysis::convrnn_targets(*out->m.convrnn);
  return out;
}

py::list operator_list(const Model& M) {
  py::list out;
  if (M.m.convrnn) {
    for (const auto& t : M.targets) {
      py::dict d;
      d["name"] = t.name;
      d["n"] = t.n();
      d["channels"] = t.channels;
      d["height"] = t.height;
      d["width"] = t.width;
      d["kernel"] = t.kernel;
      d["square"] = t.square;
      d["role"] = t.role;
      d["layer"] = t.layer;
      out.append(d);
    }
    return out;
  }
  for (const auto& l : M.m.net.layers) {
    py::dict d;
    d["name"] = l.name;
    d["n"] = l.n();
    d["channels"] = l.channels;
    d["height"] = l.height;
    d["width"] = l.width;
    d["kernel"] = l.kernel;
    d["square"] = true;
    d["role"] = fmt::format("recurrent conv ({})", l.parametrisation);
    d["layer"] = l.name;
    out.append(d);
  }
  return out;
}

analysis::ConvRNNPoint zoo_point(const py::object& drive) {
  analysis::ConvRNNPoint p;
  if (drive.is_none()) return p;
  if (py::isinstance<py::str>(drive)) {
    p.drive_name = drive.cast<std::string>();
    p.drive = analysis::read_drive(p.drive_name);
  } else {
    p.drive = view(drive.cast<Array>()).clone();  // (1, Cin, H, W): checked in Python
    p.drive_name = "array";
  }
  return p;
}

// One operator of the model, built as the CLI builds it (CordsNet: the conv; zoo: the cell operator, a Jacobian
// at the cell's fixed point under `drive`).
struct Built {
  std::shared_ptr<const linalg::LinearOperator> op;
  analysis::LayerInfo info;
  py::dict fixed_point;  // zoo Jacobians: the fixed-point search's outcome
};

Built build(const Model& M, const std::string& name, c10::ScalarType dtype, linalg::Padding padding,
            const analysis::ConvRNNPoint& point) {
  Built b;
  const c10::Device cpu(c10::DeviceType::CPU);
  if (M.m.convrnn) {
    const auto& t = analysis::find_convrnn_target(M.targets, name, M.path);
    CONVDYN_CHECK(t.square, ValueError, "{}: operator '{}' is not square (no spectrum)", M.path, name);
    analysis::ConvRNNOperator c;
    {
      py::gil_scoped_release release;
      c = analysis::build_convrnn_operator(*M.m.convrnn, t, point, dtype, cpu);
    }
    b.op = std::shared_ptr<const linalg::LinearOperator>(std::move(c.op));
    b.info = c.info;
    if (c.has_fixed_point) b.fixed_point = fixed_point_dict(c.fixed_point);
    return b;
  }
  const auto& layer = M.m.net.layer(name);
  b.op = std::make_shared<const linalg::ConvOperator>(layer.weight, layer.height, layer.width, padding, dtype, cpu);
  b.info = analysis::layer_info(layer, padding, dtype, cpu);
  return b;
}

// A finished run and what its results file records; written by write().
struct SpectrumRun {
  std::shared_ptr<Model> model;
  std::vector<analysis::LayerSpectrum> layers;
  std::vector<py::dict> fixed_points;
};

struct StabilityRun {
  std::shared_ptr<Model> model;
  std::optional<analysis::StabilityReport> cordsnet;
  std::optional<analysis::ConvRNNStabilityReport> convrnn;
};

analysis::RunInfo run_info(const Model& M, const std::string& command) {
  return analysis::RunInfo{M.path, M.m.ckpt.sha256, M.m.net.architecture, command};
}

SpectrumRun spectrum(const std::shared_ptr<Model>& M, const std::vector<std::string>& names, const py::dict& kw,
                     const std::string& dtype, const std::string& padding, const py::object& drive,
                     py::handle progress) {
  analysis::SpectrumOptions opt;
  const auto args = solve_args(kw);
  opt.solve = solve_options(args);
  opt.condition = args.condition;
  opt.dtype = linalg::parse_scalar_type(dtype);
  opt.padding = linalg::parse_padding(padding);
  const auto point = zoo_point(drive);
  SpectrumRun run;
  run.model = M;
  for (const auto& name : names) {
    auto b = build(*M, name, opt.dtype, opt.padding, point);
    opt.solve.krylov_schur.progress = progress_hook(progress, opt.solve.common.k, name);
    const Interruptible checked(*b.op);
    {
      py::gil_scoped_release release;
      run.layers.push_back(analysis::compute_spectrum(checked, b.info, opt));
    }
    run.fixed_points.push_back(b.fixed_point);
  }
  return run;
}

at::Tensor stability_images(const py::object& inputs, std::int64_t limit) {
  if (inputs.is_none()) return {};
  if (py::isinstance<py::str>(inputs)) {
    model::InputOptions io;
    io.limit = limit;
    const auto path = inputs.cast<std::string>();
    py::gil_scoped_release release;
    return model::read_images(path, io);
  }
  const auto a = inputs.cast<Array>();  // [N, C, H, W] float64, already scaled and limited in Python
  return view(a).clone();
}

StabilityRun stability(const std::shared_ptr<Model>& M, const py::object& inputs, std::int64_t limit,
                       const py::dict& kw, const py::object& drive, py::handle progress) {
  StabilityRun run;
  run.model = M;
  analysis::StabilityOptions o;
  std::string dtype = "float64";
  for (auto item : kw) {
    const auto key = item.first.cast<std::string>();
    const py::handle v = item.second;
    if (key == "alpha") o.alpha = v.cast<double>();
    else if (key == "tol") o.tol = v.cast<double>();
    else if (key == "k") o.k = v.cast<std::int64_t>();
    else if (key == "maxiter") o.max_restarts = v.cast<int>();
    else if (key == "max_steps") o.max_steps = v.cast<std::int64_t>();
    else if (key == "fixed_point_tol") o.fixed_point_tol = v.cast<double>();
    else if (key == "transient_steps") o.transient_max_steps = v.cast<std::int64_t>();
    else if (key == "dtype") dtype = v.cast<std::string>();
    else throw py::type_error(fmt::format("unknown stability option '{}'", key));
  }
  o.dtype = linalg::parse_scalar_type(dtype);
  // Lines as the CLI prints them, and the signal check between them and at every Krylov–Schur restart.
  auto line = [progress](const std::string& s) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(s);
  };
  o.progress = line;
  o.krylov_schur.progress = progress_hook(py::none(), o.k, "");
  if (M->m.kind == analysis::ModelKind::ConvRNN) {
    analysis::ConvRNNStabilityOptions zo;
    zo.tol = o.tol;
    zo.k = o.k;
    zo.max_restarts = o.max_restarts;
    zo.point = zoo_point(drive);
    zo.point.fixed_point.max_steps = o.max_steps;
    zo.point.fixed_point.tol = o.fixed_point_tol;
    zo.progress = line;
    zo.krylov_schur = o.krylov_schur;
    py::gil_scoped_release release;
    run.convrnn = analysis::analyse_convrnn_stability(*M->m.convrnn, zo);
    return run;
  }
  CONVDYN_CHECK(M->m.kind == analysis::ModelKind::CordsNet, ValueError,
                "{}: stability needs a CordsNet or ConvRNN zoo checkpoint (architecture not recognised)", M->path);
  const auto images = stability_images(inputs, limit);
  py::gil_scoped_release release;
  run.cordsnet = analysis::analyse_stability(M->m.ckpt, M->m.net, images, o);
  return run;
}

py::dict stability_dict(const StabilityRun& run) {
  py::dict d;
  if (run.convrnn) {
    const auto& rep = *run.convrnn;
    d["kind"] = "convrnn";
    d["verdict"] = analysis::to_string(rep.verdict);
    d["family"] = rep.family;
    d["drive"] = rep.drive;
    py::list layers;
    for (const auto& c : rep.layers) {
      py::dict L;
      L["name"] = c.target.name;
      L["cell"] = c.cell;
      L["n"] = c.target.n();
      L["fixed_point"] = fixed_point_dict(c.fixed_point);
      L["largest"] = result_dict(c.largest);
      L["spectral_radius"] = c.spectral_radius;
      L["margin"] = c.margin;
      L["spectral_radius_bound"] = c.spectral_radius_bound;
      L["norm2"] = c.norm2;
      L["norm2_converged"] = c.norm2_converged;
      L["contraction"] = c.contraction;
      L["verdict"] = analysis::to_string(c.verdict);
      L["reason"] = c.reason;
      layers.append(L);
    }
    d["layers"] = layers;
    return d;
  }
  const auto& rep = *run.cordsnet;
  d["kind"] = "cordsnet";
  d["verdict"] = analysis::to_string(rep.verdict);
  d["levels"] = levels_dict(rep.levels);
  d["alpha"] = rep.alpha;
  d["inputs"] = rep.inputs;
  py::list areas;
  for (const auto& a : rep.areas) {
    py::dict A;
    A["name"] = a.layer.name;
    A["n"] = a.layer.n;
    A["layer"] = info_dict(a.layer);
    A["linear"] = result_dict(a.linear);
    A["abscissa"] = a.abscissa;
    A["margin"] = a.margin;
    A["abscissa_bound"] = a.abscissa_bound;
    A["largest"] = result_dict(a.largest);
    A["spectral_radius"] = a.spectral_radius;
    A["norm2"] = a.norm2;
    A["norm2_residual"] = a.norm2_residual;
    A["norm2_converged"] = a.norm2_converged;
    A["numerical_abscissa"] = a.numerical_abscissa;
    A["numerical_abscissa_residual"] = a.numerical_abscissa_residual;
    A["numerical_abscissa_converged"] = a.numerical_abscissa_converged;
    A["contraction"] = a.contraction;
    A["transient_amplification"] = a.transient_amplification;
    if (a.transient_computed) {
      py::dict T;
      T["peak"] = a.transient.peak;
      T["peak_step"] = a.transient.peak_step;
      T["peak_time"] = static_cast<double>(a.transient.peak_step) * rep.alpha;
      T["peak_at_limit"] = a.transient.peak_at_limit;
      T["converged"] = a.transient.converged;
      T["matvecs"] = a.transient.matvecs;
      T["steps"] = a.transient.steps;
      T["norms"] = a.transient.norms;
      A["transient_growth"] = T;
    } else {
      A["transient_growth"] = py::none();
    }
    A["verdict"] = analysis::to_string(a.verdict);
    A["levels"] = levels_dict(a.levels);
    A["reason"] = a.reason;
    py::list fps;
    for (const auto& f : a.fixed_points) {
      py::dict F;
      F["input"] = f.input;
      F["reached"] = f.reached;
      F["status"] = f.status;
      F["residual"] = f.residual;
      F["steps"] = f.steps;
      F["active_fraction"] = f.active_fraction;
      F["masked"] = result_dict(f.masked);
      F["discrete"] = result_dict(f.discrete);
      F["masked_abscissa"] = f.masked_abscissa;
      F["spectral_radius"] = f.spectral_radius;
      F["spectral_radius_bound"] = f.spectral_radius_bound;
      F["verdict"] = analysis::to_string(f.verdict);
      fps.append(F);
    }
    A["fixed_points"] = fps;
    areas.append(A);
  }
  d["areas"] = areas;
  return d;
}

analysis::ResultsWriter::Mode mode(bool append) {
  return append ? analysis::ResultsWriter::Mode::Append : analysis::ResultsWriter::Mode::Create;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "convdyn's C++ core (use the `convdyn` package, not this module)";
  m.attr("__version__") = CONVDYN_VERSION;
  m.attr("method_names") = linalg::method_names();

  // convdyn's C++ errors as Python's: bad input is ValueError, a file problem OSError; c10 errors keep their
  // first line only (the rest is a C++ backtrace).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const c10::Error& e) {
      const std::string msg = e.what_without_backtrace();
      PyErr_SetString(PyExc_RuntimeError, msg.substr(0, msg.find('\n')).c_str());
    }
  });

  py::class_<Operator, std::shared_ptr<Operator>>(m, "Operator")
      .def_property_readonly("n", [](const Operator& o) { return o.op->size(); })
      .def_property_readonly("dtype", [](const Operator& o) { return linalg::scalar_type_name(o.op->dtype()); })
      .def_property_readonly("name", [](const Operator& o) { return o.name; })
      .def_property_readonly("has_transpose", [](const Operator& o) { return o.op->has_transpose(); })
      .def("describe", [](const Operator& o) { return o.op->describe(); })
      .def("apply", [](const Operator& o, const Array& x, bool transpose) {
            // x (n) or (k, n), float64; computed in the operator's dtype, returned in float64.
            at::Tensor y;
            {
              py::gil_scoped_release release;
              const std::lock_guard<std::mutex> lock(*o.busy);
              const auto t = view(x).to(o.op->dtype());
              y = transpose ? o.op->apply_transpose(t) : o.op->apply(t);
            }
            return to_numpy(y);
          }, py::arg("x"), py::arg("transpose") = false)
      .def("to_dense", [](const Operator& o, std::int64_t max_n) {
            at::Tensor d;
            {
              const Interruptible checked(*o.op);
              py::gil_scoped_release release;
              const std::lock_guard<std::mutex> lock(*o.busy);
              d = checked.to_dense(max_n);
            }
            return to_numpy(d);
          }, py::arg("max_n"))
      .def("eigs", [](const Operator& o, const py::dict& kw, py::object progress) {
            return eigs_on(*o.op, kw, progress, o.busy.get());
          }, py::arg("options"), py::arg("progress"));

  m.def("conv_operator", [](const Array& weight, std::int64_t height, std::int64_t width, const std::string& padding,
                            const std::string& dtype) {
          const auto w = view(weight).clone();  // the operator may keep `w` itself (float64 CPU): own the memory
          auto out = std::make_shared<Operator>();
          out->op = std::make_shared<const linalg::ConvOperator>(w, height, width, linalg::parse_padding(padding),
                                                                 linalg::parse_scalar_type(dtype));
          return out;
        }, py::arg("weight"), py::arg("height"), py::arg("width"), py::arg("padding"), py::arg("dtype"));

  m.def("eigs_callback", [](std::int64_t n, py::object matvec, py::object rmatvec, const std::string& what,
                            const py::dict& kw, py::object progress) {
          const PyCallbackOperator op(n, matvec, rmatvec, what);
          return eigs_on(op, kw, progress, nullptr);
        }, py::arg("n"), py::arg("matvec"), py::arg("rmatvec"), py::arg("what"), py::arg("options"),
        py::arg("progress"));

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def_property_readonly("path", [](const Model& M) { return M.path; })
      .def_property_readonly("architecture", [](const Model& M) { return M.m.net.architecture; })
      .def_property_readonly("kind", [](const Model& M) { return kind_name(M.m.kind); })
      .def_property_readonly("sha256", [](const Model& M) { return M.m.ckpt.sha256; })
      .def_property_readonly("format", [](const Model& M) { return M.m.ckpt.format; })
      .def_property_readonly("tensor_names", [](const Model& M) { return M.m.ckpt.names; })
      .def("operators", &operator_list)
      .def("operator", [](const Model& M, const std::string& name, const std::string& dtype, const std::string& padding,
                          const py::object& drive) {
            auto b = build(M, name, linalg::parse_scalar_type(dtype), linalg::parse_padding(padding), zoo_point(drive));
            auto out = std::make_shared<Operator>();
            out->op = b.op;
            out->name = name;
            return py::make_tuple(out, info_dict(b.info), b.fixed_point);
          }, py::arg("name"), py::arg("dtype"), py::arg("padding"), py::arg("drive"));

  m.def("load", &load, py::arg("path"), py::arg("key"), py::arg("size"), py::arg("kernels"), py::arg("dtype"));

  py::class_<SpectrumRun>(m, "SpectrumRun")
      .def("layers", [](const SpectrumRun& r) {
            py::list out;
            for (std::size_t i = 0; i < r.layers.size(); ++i)
              out.append(py::make_tuple(info_dict(r.layers[i].layer), result_dict(r.layers[i].result), r.fixed_points[i]));
            return out;
          })
      .def("write", [](const SpectrumRun& r, const std::string& path, bool force, bool append, const std::string& cmd) {
            analysis::ResultsWriter w(path, force, run_info(*r.model, cmd), mode(append));
            for (const auto& s : r.layers) w.write_layer(s);
            w.commit();
          }, py::arg("path"), py::arg("force"), py::arg("append"), py::arg("command"));
  m.def("spectrum", &spectrum, py::arg("model"), py::arg("layers"), py::arg("options"), py::arg("dtype"),
        py::arg("padding"), py::arg("drive"), py::arg("progress"));

  py::class_<StabilityRun>(m, "StabilityRun")
      .def("to_dict", &stability_dict)
      .def("write", [](const StabilityRun& r, const std::string& path, bool force, bool append, const std::string& cmd) {
            analysis::ResultsWriter w(path, force, run_info(*r.model, cmd), mode(append));
            if (r.cordsnet) analysis::write_stability(w, *r.cordsnet);
            else analysis::write_convrnn_stability(w, *r.convrnn);
            w.commit();
          }, py::arg("path"), py::arg("force"), py::arg("append"), py::arg("command"));
  m.def("stability", &stability, py::arg("model"), py::arg("inputs"), py::arg("limit"), py::arg("options"),
        py::arg("drive"), py::arg("progress"));
}

}  // namespace convdyn::python
