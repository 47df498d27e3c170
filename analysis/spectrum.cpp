#include "analysis/spectrum.hpp"

#include <chrono>

#include "linalg/scalar_type.hpp"
#include "linalg/solvers/condition.hpp"
#include "model/recurrent_layers.hpp"

namespace convdyn::analysis {

linalg::SolveOptions default_spectrum_solve() {
  linalg::SolveOptions s;
  s.common.which = linalg::Which::LR;
  s.common.k = 10;
  return s;
}

LayerInfo layer_info(const model::RecurrentLayer& layer, linalg::Padding padding, c10::ScalarType dtype,
                     c10::Device device) {
  LayerInfo info;
  info.name = layer.name;
  info.n = layer.n();
  info.channels = layer.channels;
  info.height = layer.height;
  info.width = layer.width;
  info.kernel = layer.kernel;
  info.padding = linalg::to_string(padding);
  info.parametrisation = layer.parametrisation;
  info.dtype = linalg::scalar_type_name(dtype);
  info.device = device.str();
  return info;
}

LayerSpectrum compute_spectrum(const model::RecurrentLayer& layer, const SpectrumOptions& opt) {
  const linalg::ConvOperator op(layer.weight, layer.height, layer.width, opt.padding, opt.dtype, opt.device);
  return compute_spectrum(op, layer_info(layer, opt.padding, opt.dtype, opt.device), opt);
}

LayerSpectrum compute_spectrum(const linalg::LinearOperator& op, const LayerInfo& info, const SpectrumOptions& opt) {
  linalg::SolveOptions solve = opt.solve;
  if (opt.progress && solve.method == linalg::Method::KrylovSchur) {
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    const std::int64_t k = solve.common.k;
    solve.krylov_schur.progress = [&opt, name = info.name, k, t0, last](const linalg::KrylovSchurProgress& p) mutable {
      const auto now = std::chrono::steady_clock::now();
      // Quiet for short solves; then one line a second.
      if (now - t0 < std::chrono::seconds(2) || now - last < std::chrono::seconds(1)) return;
      last = now;
      opt.progress(fmt::format("  [{}] restart {}, {}/{} converged, worst residual estimate {:.1e}, {} matvecs", name,
                               p.restart, p.converged, k, p.worst_estimate, p.matvecs));
    };
  }
  LayerSpectrum out;
  out.layer = info;
  const bool keep_vectors = solve.common.vectors;
  if (opt.condition) solve.common.vectors = true;
  out.result = linalg::solve(op, solve);
  if (opt.condition) {
    const auto unmatched = linalg::add_condition_numbers(op, out.result, solve);
    if (unmatched > 0 && opt.progress)
      opt.progress(fmt::format("  [{}] {} of {} eigenvalues have no matching left eigenvector (clustered, or the "
                               "transposed solve did not find them): no condition number", info.name, unmatched,
                               out.result.values.size()));
    if (!keep_vectors) out.result.vectors.resize(0, 0);
  }
  // Where the solve ran (the operator may be on the CPU).
  if (solve.method == linalg::Method::Dense && solve.dense_cuda_device >= 0)
    out.layer.device = fmt::format("cuda:{}", solve.dense_cuda_device);
  return out;
}

}  // namespace convdyn::analysis
