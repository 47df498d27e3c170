// Pieces the stability analyses share: one eigen-solve with the right method for the size, summaries of a
// result, and its record in the results file. Internal to convdyn::analysis.
#pragma once
#include <cstdint>

#include "analysis/results.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"

namespace convdyn::analysis::detail {

/// The k eigenvalues of `op` preferred by `which`: dense (with vectors, so residuals are computed) for
/// n <= 200 or k > n - 3, else krylov-schur; flags judged against `tol` either way.
linalg::EigResult solve_eigs(const linalg::LinearOperator& op, linalg::Which which, std::int64_t k, double tol,
                             int max_restarts);

double max_real(const linalg::EigResult& r);  ///< -inf for an empty result
double max_abs(const linalg::EigResult& r);   ///< 0 for an empty result

/// Group `name` under g: eigenvalues, residuals, method, which, tol, all_converged, matvecs.
void write_eigs(ResultsGroup& g, const char* name, const linalg::EigResult& r);

}  // namespace convdyn::analysis::detail
