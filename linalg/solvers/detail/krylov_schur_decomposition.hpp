// The Krylov–Schur decomposition that `krylov_schur` expands and truncates (Stewart 2001).
//
// Internal to convdyn::linalg; exposed so that the tests can check the Krylov–Schur relation directly.
#pragma once
#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include <cstdint>
#include <random>

#include "linalg/linear_operator.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg::detail {

/// A Krylov–Schur decomposition of size p <= m for a LinearOperator A (column notation, v_i = row i of V):
///
///     A [v_0 .. v_{p-1}] = [v_0 .. v_{p-1}] S + v_p b^T,    V = [v_0 .. v_p] orthonormal,
///
/// stored as the basis V, a (capacity+1, n) tensor on the operator's device and dtype (one vector per row; rows
/// p+1.. are scratch), and H = projected(), a (capacity+1) x capacity CPU double matrix with H(:p, :p) = S and
/// H(p, :p) = b^T (everything else zero). After `expand` S is upper Hessenberg in its new columns; after
/// `schur` + `truncate` it is quasi-upper-triangular (ordered real Schur form) in its leading p columns.
///
/// The leading `locked()` columns are locked: `schur` does not touch them (their Ritz pairs have
/// converged), only their coupling to the rest.
class KrylovSchurDecomposition {
 public:
  using Index = Eigen::Index;

  /// Allocates V (m+1, n) and sets v_0 = start / ||start|| (a seeded standard-normal vector, generated
  /// on the CPU in double precision with std::mt19937_64, when `start` is undefined). \pre 1 <= m <= n,
  /// `start` (if defined) has n finite entries, not all zero.
  /// `capacity` >= m reserves room to raise max_size() later (set_max_size); V is (capacity+1, n).
  /// `always_twice` = CGS2 (every vector gets two Gram–Schmidt passes); false = the second pass only when
  /// the first removed more than 30% of the norm (see expand), with an orthogonality check per restart.
  KrylovSchurDecomposition(const LinearOperator& op, Index m, std::uint64_t seed, const at::Tensor& start,
                           Index capacity = 0, bool always_twice = true);

  Index max_size() const noexcept { return m_; }
  Index capacity() const noexcept { return cap_; }
  /// The size `expand` grows to; size() <= m <= capacity().
  void set_max_size(Index m);
  /// Raises capacity() to `capacity` (<= n; V and H are reallocated, the decomposition is unchanged).
  void reserve(Index capacity);
  Index size() const noexcept { return p_; }
  Index locked() const noexcept { return l_; }
  const at::Tensor& basis() const noexcept { return V_; }
  const Eigen::MatrixXd& projected() const noexcept { return H_; }
  /// Residual coefficients dropped when the columns were locked (size m; zero beyond locked()).
  const Eigen::VectorXd& deflated() const noexcept { return deflated_; }
  /// Times a new direction had to be made up (Arnoldi breakdown: A v_j in the span of v_0..v_j).
  std::int64_t breakdowns() const noexcept { return breakdowns_; }
  /// Whether v_p is a valid unit vector. False only after a breakdown that left no room for a new
  /// direction (size() == n): then b = 0 and span(v_0..v_{p-1}) is invariant.
  bool residual_valid() const noexcept { return residual_valid_; }
  /// Whether every vector currently gets two Gram–Schmidt passes (CGS2).
  bool always_twice() const noexcept { return always_twice_; }
  /// Times the orthogonality check in `truncate` found max |V V^T - I| > orthogonality_limit() and
  /// switched to CGS2 (0 or 1).
  std::int64_t orthogonality_fallbacks() const noexcept { return fallbacks_; }
  /// The largest max |V V^T - I| over the kept bases checked so far (0 when CGS2 from the start).
  double orthogonality_loss() const noexcept { return loss_; }
  /// 1000 eps of the operator dtype (2.2e-13 in float64): orthogonality to this level keeps the projected
  /// matrix accurate well below the tolerances the solver accepts.
  double orthogonality_limit() const noexcept;

  /// Arnoldi steps from size() to max_size(): w = A v_j, orthogonalised against v_0..v_j by classical
  /// Gram–Schmidt as block GEMVs in the operator dtype: with `always_twice`, two full passes (CGS2) and a
  /// third when the second removes more than 30% of the norm; without, one pass and a second only when it
  /// removed more than 30% (the DGKS criterion ||w'|| < ||w|| / sqrt(2), ARPACK's and SLEPc's default: half
  /// the memory traffic of CGS2, which dominates a step on large conv layers). In that mode `truncate`
  /// measures max |V V^T - I| of the kept basis (at the first and every 4th restart) and switches to CGS2
  /// for good if it exceeds
  /// `orthogonality_limit()` (counted in orthogonality_fallbacks()). When ||w|| <= 100 eps ||A v_j|| (breakdown),
  /// H(j+1, j) = 0 and v_{j+1} is a random vector orthogonalised against the basis. Returns false when no
  /// new direction exists (the basis already spans R^n); the decomposition is then still valid.
  /// One host synchronisation per step (the projection coefficients and norms travel together).
  /// With set_sstep(s > 1), see there: blocks of s steps share one block Gram–Schmidt.
  bool expand();

  /// s-step expansion (s > 1): `expand` adds the vectors in blocks of s. A block is a Newton basis
  /// w_{i+1} = (A w_i - shift w_i) / eta_i from the continuation vector (s matvecs, only vector norms and the
  /// components along the locked vectors taken out in between), one block classical Gram–Schmidt against the basis (GEMMs; a second pass when some column
  /// lost more than 30% of its norm, or always with CGS2), a Householder QR of the block, and the new
  /// Hessenberg columns from the change of basis (a small triangular solve). The Krylov space is the one
  /// s single steps build, but the basis is read about twice per block instead of twice per vector. A block
  /// whose basis matrix is ill-conditioned (cond > 1e6) or that meets a (near) breakdown is redone by single
  /// steps (counted in sstep_fallbacks()). `shift` should sit near the centre of the spectrum, so that the
  /// powers of (A - shift) stay well conditioned. s = 1: one vector at a time (the default).
  void set_sstep(Index s, double shift);
  Index sstep() const noexcept { return sstep_; }
  std::int64_t sstep_blocks() const noexcept { return sstep_blocks_; }
  std::int64_t sstep_fallbacks() const noexcept { return sstep_fallbacks_; }

  /// Ordered real Schur form of the active block S(l:p, l:p), l = locked(): S <- U^T S U, b^T <- b^T U
  /// with U = diag(I_l, U_a), Ritz values of the active block in `which` order (detail/ordered_schur.hpp).
  /// The basis is not touched until `truncate` (combine() accounts for the pending U).
  void schur(Which which);

  /// Thick restart: keeps the first `keep` Schur vectors, v_i <- sum_j U(j, i) v_j for i < keep (one GEMM
  /// on rows locked()..size()), v_keep <- v_size, S <- S(:keep, :keep), b <- b(:keep); then locks the first
  /// `lock` columns and deflates the newly locked ones: deflated()(j) <- b_j, b_j <- 0, so that S stays
  /// block upper triangular with respect to the locked part in later expansions. The relation is then
  /// exact except in the locked columns, where A v_j - (V S)_j = deflated()(j) w_j for a unit vector w_j;
  /// a Ritz vector V y therefore has residual <= |b^T y| + sum_j |deflated()(j) y_j|.
  /// \pre `schur` was called since the last expansion, 1 <= keep <= size(), locked() <= lock <= keep
  /// (locking is permanent), and neither keep nor lock splits a 2x2 block of S.
  void truncate(Index keep, Index lock);

  /// Locks everything and starts afresh: truncate(lock, lock) (the first `lock` Schur vectors are kept and
  /// locked, all residual coefficients deflated) and v_lock <- a random unit vector orthogonal to them, so
  /// that the next `expand` builds a new Krylov space in their orthogonal complement. Returns false when
  /// no new direction exists (lock == n). \pre as for truncate.
  bool restart_fresh(Index lock);

  /// Rows Y [v_0 .. v_{p-1}]^T in the current (Schur, if pending) basis: returns the (r, n) tensor
  /// Y (U^T V(:p)) for the r x p coefficient matrix Y, on the operator's device and dtype.
  at::Tensor combine(const Eigen::MatrixXd& Y) const;

 private:
  // Gram–Schmidt of w against rows [0, j) of V (see expand); h (size j) gets the coefficients; returns
  // (||w_in||, ||w_out||).
  std::pair<double, double> orthogonalize(at::Tensor& w, Index j, Eigen::VectorXd* h) const;
  // max |G - I| for the Gram matrix G of rows [0, r) of V.
  double orthogonality_error(Index r) const;
  // One s-step block of sb vectors from v_j (see set_sstep); false, with nothing changed but scratch rows,
  // when it has to be redone by single steps.
  bool expand_block(Index j, Index sb);
  // Largest accepted condition number of an s-step block's basis matrix.
  static constexpr double kMaxBasisCondition = 1e6;
  // Puts a random unit vector orthogonal to v_0..v_{j-1} in row j; false if none could be found.
  bool random_direction(Index j);
  at::Tensor random_vector();

  const LinearOperator& op_;
  Index n_, m_, cap_, p_ = 0, l_ = 0;
  at::Tensor V_;
  Eigen::MatrixXd H_;
  Eigen::VectorXd deflated_;
  Eigen::MatrixXd U_;     // pending Schur vectors (p x p), valid when pending_
  Index schur_lock_ = 0;  // locked() when U_ was computed (U_ is the identity before it)
  bool pending_ = false;
  bool residual_valid_ = true;
  bool always_twice_ = true;
  std::int64_t breakdowns_ = 0, fallbacks_ = 0;
  std::int64_t truncations_ = 0;
  static constexpr std::int64_t kCheckEvery = 4;  // restarts between orthogonality checks (single pass)
  Index sstep_ = 1;
  double shift_ = 0.0;
  std::int64_t sstep_blocks_ = 0, sstep_fallbacks_ = 0;
  double loss_ = 0.0;
  std::mt19937_64 rng_;
};

}  // namespace convdyn::linalg::detail
