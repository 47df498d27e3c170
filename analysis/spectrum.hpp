// Spectrum of one recurrent operator, by the method the user chose (linalg::solve).
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <string>

#include "analysis/results.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/solve.hpp"

namespace convdyn::model {
struct RecurrentLayer;
}

namespace convdyn::analysis {

/// The solver options of a spectrum job with its defaults: Krylov–Schur, the 10 rightmost eigenvalues.
linalg::SolveOptions default_spectrum_solve();

struct SpectrumOptions {
  linalg::SolveOptions solve = default_spectrum_solve();  ///< method, common block, each method's extras
  c10::ScalarType dtype = c10::ScalarType::Double;        ///< of the operator (and the Krylov basis)
  c10::Device device = c10::Device(c10::DeviceType::CPU);  ///< where the operator is built; a dense solve on
                                                          ///< a GPU is solve.dense_cuda_device
  linalg::Padding padding = linalg::Padding::Zero;        ///< of a checkpoint layer's conv
  /// Also the eigenvalue condition numbers and error bounds (linalg/solvers/condition.hpp): a second solve, on
  /// A^T. The eigenvectors this needs are kept only when solve.common.vectors asks for them.
  bool condition = false;
  /// Progress lines for long runs (nullptr: silent).
  std::function<void(const std::string&)> progress;
};

/// What the results file records about `layer` analysed with this padding, dtype and device.
LayerInfo layer_info(const model::RecurrentLayer& layer, linalg::Padding padding, c10::ScalarType dtype,
                     c10::Device device);

/// Builds the layer's conv operator and computes its spectrum. Throws ValueError for bad options.
LayerSpectrum compute_spectrum(const model::RecurrentLayer& layer, const SpectrumOptions& opt);

/// The spectrum of any operator (e.g. a cell Jacobian), recorded under `info` (opt.dtype/device/padding are
/// not used to build anything here: `op` already has its dtype and device).
LayerSpectrum compute_spectrum(const linalg::LinearOperator& op, const LayerInfo& info, const SpectrumOptions& opt);

}  // namespace convdyn::analysis
