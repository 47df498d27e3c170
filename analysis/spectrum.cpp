#include "analysis/spectrum.hpp"

#include <ATen/ATen.h>

#include <chrono>

#include "linalg/conv_operator.hpp"
#include "linalg/cuda_dense_eig.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/arnoldi_qr.hpp"
#include "linalg/arpack_eigs.hpp"
#include "linalg/krylov_schur.hpp"
#include "linalg/spectra_eigs.hpp"
#include "model/network.hpp"

namespace convdyn::analysis {

std::vector<std::string> spectrum_methods() { return {"krylov-schur", "dense", "spectra", "arpack", "arnoldi-qr"}; }

namespace {
c10::ScalarType parse_dtype(const std::string& s) {
  if (s == "float64") return at::kDouble;
  if (s == "float32") return at::kFloat;
  throw ValueError(fmt::format("unknown --dtype '{}' (expected float64 or float32)", s));
}
/// The device the operator is built on (linalg::parse_device). One exception: `--method dense --device
/// cuda[:N]` when LibTorch cannot hold CUDA tensors (a CPU-only LibTorch) but the cuSOLVER path is compiled
/// in: the operator stays on the CPU and only the dense solve runs on the GPU (see the dense branch), which
/// reports its own DeviceError when no GPU is present.
c10::Device parse_device(const std::string& s, const std::string& method) {
  try {
    return linalg::parse_device(s);
  } catch (const DeviceError&) {
#if CONVDYN_HAVE_CUSOLVER
    if (method == "dense") return c10::Device(c10::DeviceType::CPU);
#endif
    throw;
  }
}

/// CUDA ordinal named by --device ("cuda" = 0), or -1 for the CPU.
int cuda_ordinal(const std::string& s) {
  const c10::Device d(s);  // already validated by parse_device
  return d.is_cuda() ? (d.has_index() ? d.index() : 0) : -1;
}

/// Dense cross-check with cuSOLVER: materialise the operator (float64, by blocks of identity columns on
/// the operator's device), then cusolverDnXgeev on device `gpu`. --max-dense-n does not apply (it guards
/// CPU time); dense_eig_cuda checks the GPU's free memory instead. Residuals come from the matrix.
linalg::EigResult dense_eig_on_gpu(const linalg::LinearOperator& op, const linalg::DenseEigOptions& d, int gpu) {
  linalg::require_cuda_device(gpu);  // fail before the (possibly long) materialisation
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t n = op.size(), matvecs0 = op.matvecs();
  at::Tensor dense = op.to_dense(n);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::MatrixXd a = Eigen::Map<const RowMajor>(dense.data_ptr<double>(), n, n);
  dense = at::Tensor();
  auto r = linalg::dense_eig_cuda(a, d, gpu);
  r.matvecs = op.matvecs() - matvecs0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}
}  // namespace

LayerInfo layer_info(const model::RecurrentLayer& layer, const std::string& padding, const std::string& dtype,
                     const std::string& device) {
  LayerInfo info;
  info.name = layer.name;
  info.n = layer.n();
  info.channels = layer.channels;
  info.height = layer.height;
  info.width = layer.width;
  info.kernel = layer.kernel;
  info.padding = padding;
  info.parametrisation = layer.parametrisation;
  info.dtype = dtype;
  info.device = device;
  return info;
}

c10::ScalarType spectrum_dtype(const SpectrumOptions& opt) { return parse_dtype(opt.dtype); }
c10::Device spectrum_device(const SpectrumOptions& opt) { return parse_device(opt.device, opt.method); }

LayerSpectrum compute_spectrum(const model::RecurrentLayer& layer, const SpectrumOptions& opt) {
  const auto device = parse_device(opt.device, opt.method);
  linalg::ConvOperator op(layer.weight, layer.height, layer.width, linalg::parse_padding(opt.padding),
                          parse_dtype(opt.dtype), device);
  return compute_spectrum(op, layer_info(layer, opt.padding, opt.dtype, device.str()), opt);
}

LayerSpectrum compute_spectrum(const linalg::LinearOperator& op, const LayerInfo& info, const SpectrumOptions& opt) {
  LayerSpectrum out;
  out.layer = info;
  const std::string& layer_name = info.name;
  CONVDYN_CHECK(opt.k >= 0, ValueError, "--k {} must be >= 0 (0 = all, dense only)", opt.k);
  if (opt.method == "dense") {
    linalg::DenseEigOptions d;
    d.which = opt.which;
    d.k = opt.k;
    d.max_n = opt.max_dense_n;
    d.vectors = opt.vectors;
    const int gpu = cuda_ordinal(opt.device);
    if (gpu >= 0) {
      out.result = dense_eig_on_gpu(op, d, gpu);
      out.layer.device = fmt::format("cuda:{}", gpu);  // where the solve ran (the operator may be on the CPU)
    } else {
      out.result = linalg::dense_eig(op, d);
    }
  } else if (opt.method == "krylov-schur") {
    CONVDYN_CHECK(opt.k >= 1, ValueError, "--k 0 (all eigenvalues) needs --method dense");
    linalg::KrylovSchurOptions ko;
    ko.k = opt.k;
    ko.m = opt.ncv;
    ko.which = opt.which;
    ko.tol = opt.tol;
    ko.max_restarts = opt.max_restarts;
    ko.seed = opt.seed;
    ko.verify = opt.verify;
    ko.reorthogonalize = linalg::parse_reorthogonalization(opt.reorth);
    ko.vectors = opt.vectors;
    if (opt.progress) {
      const auto t0 = std::chrono::steady_clock::now();
      auto last = t0;
      ko.progress = [&, t0, last](const linalg::KrylovSchurProgress& p) mutable {
        const auto now = std::chrono::steady_clock::now();
        // Quiet for short solves; then one line a second.
        if (now - t0 < std::chrono::seconds(2) || now - last < std::chrono::seconds(1)) return;
        last = now;
        opt.progress(fmt::format("  [{}] restart {}, {}/{} converged, worst residual estimate {:.1e}, {} matvecs",
                                 layer_name, p.restart, p.converged, opt.k, p.worst_estimate, p.matvecs));
      };
    }
    out.result = linalg::krylov_schur(op, ko);
  } else if (opt.method == "spectra" || opt.method == "arpack") {
    CONVDYN_CHECK(opt.k >= 1, ValueError, "--k 0 (all eigenvalues) needs --method dense");
    auto fill = [&](auto o) {
      o.k = opt.k;
      o.ncv = opt.ncv;
      o.which = opt.which;
      o.tol = opt.tol;
      o.max_iterations = opt.max_restarts;
      o.seed = opt.seed;
      o.vectors = opt.vectors;
      return o;
    };
    out.result = opt.method == "spectra" ? linalg::spectra_eigs(op, fill(linalg::SpectraOptions{}))
                                         : linalg::arpack_eigs(op, fill(linalg::ArpackOptions{}));
  } else if (opt.method == "arnoldi-qr") {
    CONVDYN_CHECK(opt.k >= 1, ValueError, "--k 0 (all eigenvalues) needs --method dense");
    linalg::ArnoldiQrOptions a;
    a.k = opt.k;
    a.steps = opt.steps;
    a.qr_iters = opt.qr_iters;
    a.which = opt.which;
    a.tol = opt.tol;
    a.seed = opt.seed;
    a.vectors = opt.vectors;
    out.result = linalg::arnoldi_qr(op, a);
  } else {
    throw ValueError(fmt::format("unknown --method '{}' (available: {})", opt.method,
                                 fmt::join(spectrum_methods(), ", ")));
  }
  return out;
}

}  // namespace convdyn::analysis
