// Steady states of the CordsNet one-step map, found by running the dynamics.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/cordsnet/cordsnet.hpp"

namespace convdyn::model {

struct FixedPointOptions {
  double alpha = 0.2;               ///< step size of the map F (dt / T)
  std::int64_t max_steps = 20000;   ///< stop with status "max-steps" after this many applications of F
  double tol = 1e-10;               ///< converged when the residual (see FixedPoint) is <= tol
  std::int64_t check_every = 50;    ///< residual / divergence test every this many steps
  /// Oscillation test: stop with "oscillating" when the best residual of the last `stall_checks` checks is
  /// not below `stall_factor` times the best residual before them (no 10% progress in 1000 steps with the
  /// defaults). A map that converges at a rate slower than stall_factor^(1 / (stall_checks * check_every))
  /// per step (0.9999 with the defaults) is reported as oscillating too.
  std::int64_t stall_checks = 20;
  double stall_factor = 0.9;
  double diverge_norm = 1e6;        ///< "diverging" when any area's state norm exceeds this (or is not finite)
};

struct FixedPoint {
  std::vector<at::Tensor> state;  ///< last state, [B, C_l, H_l, W_l] per area
  /// max over areas and batch elements of ||F(r)_l - r_l|| / max(1, ||r_l||) (2-norms over C, H, W) at the
  /// last check; F is one step of the dynamics.
  double residual = 0;
  std::int64_t steps = 0;        ///< applications of F
  bool converged = false;
  std::string status;            ///< "converged", "oscillating", "diverging" or "max-steps"
};

/// Runs r <- F(r) (CordsNet::step with the drive `inp`, undefined = zero image) from `start` (empty = the
/// zero state, batch from `inp` or 1) until the residual is <= tol, the state diverges, the residual
/// stalls (oscillation heuristic above) or max_steps. Never throws for non-convergence; throws ValueError
/// for bad options or shapes. Cost: one step per iteration (plus one state copy per check).
FixedPoint find_fixed_point(const CordsNet& net, const at::Tensor& inp, std::vector<at::Tensor> start,
                            const FixedPointOptions& opt = {});

/// The residual defined in FixedPoint for states `r` (F applied once to a copy).
double fixed_point_residual(const CordsNet& net, const at::Tensor& inp, const std::vector<at::Tensor>& r,
                            double alpha);

}  // namespace convdyn::model
