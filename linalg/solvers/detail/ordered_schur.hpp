// Ordered real Schur forms of small dense matrices (the projected problem of Krylov–Schur).
//
// Internal to convdyn::linalg; exposed in a header so that the tests can check it directly.
#pragma once
#include <Eigen/Core>

#include <complex>
#include <utility>
#include <vector>

#include "linalg/which.hpp"

namespace convdyn::linalg::detail {

/// One diagonal block of a quasi-upper-triangular matrix: a 1x1 block (real eigenvalue) or a 2x2 block
/// (complex-conjugate pair). `value` is the eigenvalue, for a pair the one with positive imaginary part.
struct SchurBlock {
  Eigen::Index start = 0;
  int size = 1;
  std::complex<double> value;
};

/// The diagonal blocks of the quasi-triangular T whose rows/columns lie in [lo, hi). A block is 2x2
/// exactly where T(i+1, i) != 0. \pre lo and hi do not split a 2x2 block.
std::vector<SchurBlock> schur_blocks(const Eigen::MatrixXd& T, Eigen::Index lo, Eigen::Index hi);

/// Eigenvalues of the 2x2 block T(j:j+2, j:j+2): (lambda1, lambda2); for a complex pair lambda1 has the
/// positive imaginary part.
std::pair<std::complex<double>, std::complex<double>> eig2x2(double a, double b, double c, double d);

/// Swaps the adjacent diagonal blocks of sizes n1 (at j1) and n2 (at j1 + n1) of the quasi-triangular
/// T by an orthogonal similarity (Bai & Demmel 1993, as LAPACK dlaexc: a Givens rotation for 1x1/1x1,
/// otherwise a small Sylvester solve T11 X - X T22 = T12 and a Householder QR of [X; -I]). The
/// transformation is applied to all of T and accumulated into the columns of U. Returns false and leaves
/// T, U untouched when the swap would be numerically unstable (eigenvalues too close, as dlaexc's test).
bool swap_schur_blocks(Eigen::MatrixXd& T, Eigen::MatrixXd& U, Eigen::Index j1, int n1, int n2);

/// Reorders the quasi-triangular T (and accumulates into U, so that U^T A U = T is preserved) so that the
/// diagonal blocks in [lo, T.rows()) follow `which` order (order_by), best first. Blocks in [0, lo) are not
/// moved (locked), but their coupling rows are transformed. Swaps refused as unstable leave the pair of
/// (nearly equal) eigenvalues in their current order. 2x2 blocks that turn out to have real eigenvalues are
/// split. Cost O(N^3) for N = T.rows() in the worst case.
void sort_schur(Eigen::MatrixXd& T, Eigen::MatrixXd& U, Eigen::Index lo, Which which);

/// Real Schur form of A(lo:, lo:) embedded in the full matrix: on return T = U^T A U with U =
/// diag(I_lo, U_a), T(lo:, lo:) quasi-triangular in `which` order, T(:lo, lo:) = A(:lo, lo:) U_a. A must
/// already be block upper triangular with respect to lo (A(lo:, :lo) = 0; that part is not read).
void ordered_schur(const Eigen::MatrixXd& A, Eigen::Index lo, Which which, Eigen::MatrixXd& T,
                   Eigen::MatrixXd& U);

/// Unit-norm eigenvector y of the quasi-triangular T for the eigenvalue `block.value`, by block back
/// substitution (as LAPACK dtrevc; near-singular diagonal solves are perturbed to eps * ||T||). Only the
/// entries [0, block.start + block.size) are nonzero. The eigenvector of conj(value) is conj(y).
Eigen::VectorXcd schur_eigenvector(const Eigen::MatrixXd& T, const SchurBlock& block);

}  // namespace convdyn::linalg::detail
