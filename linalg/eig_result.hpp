// The value type every eigensolver returns.
#pragma once
#include <Eigen/Core>

#include <cstdint>
#include <string>

#include "linalg/which.hpp"

namespace convdyn::linalg {

/// Why a solver stopped. Converged: every requested pair met the tolerance. NumericalFailure: the method
/// itself failed (e.g. a dense QR algorithm that did not converge, an ARPACK error code); the result holds
/// what could be computed (possibly nothing) and `EigResult::message` says what happened.
enum class StopReason { Converged, MaxRestarts, Breakdown, NotIterative, NumericalFailure };
const char* to_string(StopReason r);

/// Eigenpairs in `which` order, best first. Vectors, when requested, are columns of `vectors`
/// (n x k, unit 2-norm; complex for complex eigenvalues) on the CPU in double precision.
struct EigResult {
  Eigen::VectorXcd values;
  Eigen::MatrixXcd vectors;        ///< empty unless vectors were requested
  Eigen::VectorXd residuals;       ///< ||A v - lambda v|| / ||v|| from the operator; empty when unknown
  Eigen::Matrix<bool, Eigen::Dynamic, 1> converged;  ///< per pair; residual <= tol * max(1, |lambda|)
  std::string method;              ///< "dense", "krylov-schur", ...
  Which which = Which::LM;
  double tol = 0.0;                ///< tolerance the converged flags refer to (0 for dense)
  std::int64_t matvecs = 0, restarts = 0;
  double seconds = 0.0;
  StopReason reason = StopReason::NotIterative;
  std::string message;             ///< what failed, when reason is NumericalFailure (else empty)
  /// krylov-schur only (see KrylovSchurOptions::verify): search rounds run after the first convergence,
  /// pairs they found that the first convergence had missed, and whether the last round ended with the
  /// best remaining eigenvalue outside the k returned.
  std::int64_t search_rounds = 0, search_found = 0;
  bool search_complete = false;
  /// With condition numbers requested (linalg/solvers/condition.hpp), per pair: kappa(lambda) = ||x|| ||y|| /
  /// |y^H x| from the right vector x and the left vector y, and the first-order error bound kappa * residual
  /// on |lambda - lambda_exact|; NaN for a pair whose left vector could not be matched. Empty otherwise.
  Eigen::VectorXd condition, error_bound;

  Eigen::Index size() const { return values.size(); }
  /// Sets `tol` and `converged` from `values` and `residuals`: converged[i] = residuals[i] <= tol * max(1,
  /// |values[i]|) (false without a residual).
  void flag_converged(double tolerance);
  /// Every returned pair converged and the method did not fail.
  bool all_converged() const {
    return reason != StopReason::NumericalFailure && converged.size() == values.size() && converged.all();
  }
};

}  // namespace convdyn::linalg
