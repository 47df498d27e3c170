// The options every iterative eigensolver takes: which part of the spectrum, how many pairs, how precisely
// and with what budget. Each method's own options struct derives from it and adds its extras.
#pragma once
#include <cstdint>

#include "linalg/which.hpp"

namespace convdyn::linalg {

struct EigOptions {
  std::int64_t k = 10;        ///< wanted eigenvalues (nev), 1 <= k <= n-2
  Which which = Which::LM;    ///< which eigenvalues are wanted (see which.hpp)
  double tol = 1e-10;         ///< pair i is converged when ||A v - lambda v|| <= tol * max(1, |lambda|), ||v|| = 1
                              ///< (the EigResult definition); in (0, 1)
  std::int64_t ncv = 0;       ///< subspace size in [k+2, n]; 0 = the method's default
  int max_restarts = 1000;    ///< restarts (outer iterations) before giving up with MaxRestarts
  std::uint64_t seed = 0;     ///< start vector(s): see linalg/detail/random.hpp
  bool vectors = false;       ///< return the eigenvectors in EigResult::vectors (n x k, unit norm)
};

/// Throws ValueError naming `method` and the allowed range unless 1 <= k <= n-2 (the dense method covers
/// larger k), ncv is 0 or in [k+2, n], tol in (0, 1) and max_restarts >= `min_restarts`.
void check_eig_options(const char* method, std::int64_t n, const EigOptions& opt, int min_restarts = 1);

}  // namespace convdyn::linalg
