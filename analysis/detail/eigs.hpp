// Pieces the stability analyses share: one eigen-solve with the right method for the size, summaries of a
// result, and its record in the results file. Internal to convdyn::analysis.
#pragma once
#include "analysis/results.hpp"
#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/eig_options.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::analysis::detail {

/// The opt.k eigenvalues of `op` preferred by opt.which: dense (with vectors, so residuals are computed) for
/// n <= 200 or k > n - 3, else krylov-schur with the common block as given; flags judged against opt.tol
/// either way.
linalg::EigResult solve_eigs(const linalg::LinearOperator& op, const linalg::EigOptions& opt,
                             const linalg::KrylovSchurExtras& extras = {});

/// solve_eigs, then each pair's condition number and error bound (linalg/solvers/condition.hpp) from the same
/// method on A^T; the eigenvectors this needs are dropped again unless opt.vectors.
linalg::EigResult solve_eigs_with_condition(const linalg::LinearOperator& op, const linalg::EigOptions& opt,
                                            const linalg::KrylovSchurExtras& extras = {});
/// The error bound of the pair attaining max Re (max |lambda|); NaN when it has none (no condition numbers, or
/// unmatched: a clustered eigenvalue) or the result is empty.
double bound_at_max_real(const linalg::EigResult& r);
double bound_at_max_abs(const linalg::EigResult& r);
double max_real(const linalg::EigResult& r);  ///< -inf for an empty result
double max_abs(const linalg::EigResult& r);   ///< 0 for an empty result

/// Group `name` under g: eigenvalues, residuals, condition and error_bound (when computed), method, which, tol,
/// all_converged, matvecs.
void write_eigs(ResultsGroup& g, const char* name, const linalg::EigResult& r);

}  // namespace convdyn::analysis::detail
