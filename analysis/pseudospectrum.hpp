// Pseudospectra of one recurrent layer W (dense size): sigma_min(zI - W) on a grid after one Schur
// decomposition, the eps-pseudospectral abscissae and the distance to instability, and their record.
//
// Eigenvalues alone mislead for non-normal W: a stable spectrum (max Re lambda < 1) can sit inside a
// pseudospectrum that crosses Re z = 1 for a small eps, i.e. a small perturbation of W is unstable and the
// linear model amplifies transiently. Dense, CPU: n up to the dense limit; for larger layers the numerical
// abscissa omega(W) of `convdyn stability` bounds the initial growth instead.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/results.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/pseudospectrum.hpp"

namespace convdyn::analysis {

struct PseudospectrumAnalysisOptions {
  std::int64_t grid = 80;            ///< points per axis of the grid
  std::optional<linalg::Window> window;  ///< default: linalg::default_window (eigenvalues' box, padded)
  std::vector<double> eps = {1e-3, 1e-2, 1e-1};  ///< levels of the pseudospectral abscissae
  double threshold = 1.0;            ///< the stability line Re z = threshold (CordsNet: 1)
  int threads = 1;                   ///< for the grid and the line samples
  std::int64_t max_n = 6000;         ///< refuse larger operators (the dense matrix and its Schur form)
  linalg::PseudospectrumOptions sigma;  ///< of every sigma_min
  std::function<void(const std::string&)> progress;  ///< nullptr: silent
};

struct LayerPseudospectrum {
  LayerInfo layer;
  Eigen::VectorXcd eigenvalues;      ///< every eigenvalue (the Schur diagonal), by decreasing real part
  linalg::Window window;
  linalg::PseudospectrumGrid grid;
  std::vector<linalg::PseudospectralAbscissa> abscissae;  ///< one per eps, in the order asked
  linalg::DistanceToInstability distance;
  double max_real = 0.0;             ///< max Re lambda(W)
  double norm2_bound = 0.0;          ///< upper bound on ||W||_2 used for the search ranges
  double seconds_schur = 0.0, seconds_grid = 0.0, seconds_total = 0.0;
  bool all_converged() const;        ///< every sigma_min of the grid, the abscissae and the distance converged
};

/// ValueError unless a layer `name` of size n fits opt.max_n (the message gives the dense cost and what bounds a
/// larger layer instead). compute_pseudospectrum checks it; a command checks every layer first, before any work.
void check_pseudospectrum_size(const std::string& name, std::int64_t n, const PseudospectrumAnalysisOptions& opt);

/// The pseudospectral analysis of `w` (materialised after the size guard: ValueError above opt.max_n, with the
/// dense cost and the alternative in the message; also for bad options).
LayerPseudospectrum compute_pseudospectrum(const linalg::LinearOperator& w, const LayerInfo& info,
                                           const PseudospectrumAnalysisOptions& opt);

/// /layers/<layer>/pseudospectrum (docs/results-format.md). A layer not yet in the file is written first with
/// every eigenvalue (method "schur"); one already there (e.g. from `spectrum`, then --append) keeps its record
/// and gains the subgroup. IoError when it already has a pseudospectrum.
void write_pseudospectrum(ResultsWriter& out, const LayerPseudospectrum& p);

}  // namespace convdyn::analysis
