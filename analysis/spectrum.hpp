// Spectrum of one recurrent operator, by the method the user chose.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <string>

#include "analysis/results.hpp"
#include "linalg/which.hpp"

namespace convdyn::model {
struct RecurrentLayer;
}
namespace convdyn::linalg {
class LinearOperator;
}

namespace convdyn::analysis {

struct SpectrumOptions {
  std::string method = "krylov-schur";  ///< krylov-schur | dense | spectra | arpack | arnoldi-qr
  linalg::Which which = linalg::Which::LR;
  std::int64_t k = 10;            ///< eigenvalues to report; 0 = all (dense only)
  std::string dtype = "float64";  ///< float64 | float32 (operator and Krylov basis)
  std::string device = "cpu";
  std::string padding = "zero";   ///< zero | circular
  std::int64_t max_dense_n = 6000;
  bool vectors = false;           ///< also compute eigenvectors (and operator residuals)
  // Iterative methods
  double tol = 1e-10;             ///< converged when ||A v - lambda v|| <= tol * max(1, |lambda|)
  std::int64_t ncv = 0;           ///< subspace size; 0 = automatic
  int max_restarts = 1000;
  std::uint64_t seed = 0;         ///< start vector seed
  bool verify = false;            ///< krylov-schur: search rounds after convergence (KrylovSchurOptions::verify)
  std::string reorth = "ifneeded";  ///< krylov-schur: ifneeded | always (KrylovSchurOptions::reorthogonalize)
  std::int64_t steps = 300;       ///< arnoldi-qr: Arnoldi steps (the published setting)
  int qr_iters = 5000;            ///< arnoldi-qr: unshifted QR iterations (the published setting)
  /// Progress lines for long runs (nullptr: silent).
  std::function<void(const std::string&)> progress;
};

/// opt.dtype and opt.device parsed (ValueError / DeviceError for unknown or unavailable ones).
c10::ScalarType spectrum_dtype(const SpectrumOptions& opt);
c10::Device spectrum_device(const SpectrumOptions& opt);

/// The method names `compute_spectrum` accepts.
std::vector<std::string> spectrum_methods();

/// What the results file records about `layer` analysed with this padding, dtype and device.
LayerInfo layer_info(const model::RecurrentLayer& layer, const std::string& padding, const std::string& dtype,
                     const std::string& device);

/// Builds the layer's operator and computes its spectrum. Throws ValueError for bad options.
LayerSpectrum compute_spectrum(const model::RecurrentLayer& layer, const SpectrumOptions& opt);

/// The spectrum of any operator (e.g. a cell Jacobian), recorded under `info` (opt.dtype/device/padding
/// are not used to build anything here: `op` already has its dtype and device).
LayerSpectrum compute_spectrum(const linalg::LinearOperator& op, const LayerInfo& info, const SpectrumOptions& opt);

}  // namespace convdyn::analysis
