// Epsilon-pseudospectra of a dense real matrix W: sigma_min(zI - W) at points and on grids, the
// eps-pseudospectral abscissa and the (complex) distance to instability.
//
// Lambda_eps(W) = {z : sigma_min(zI - W) <= eps} = {z : z is an eigenvalue of some W + E, ||E||_2 <= eps}. For a
// normal W it is the union of the eps-disks around the eigenvalues; for a non-normal one (these recurrent
// convolutions) it can be far larger, which is how a stable linear model still amplifies transiently.
//
// Method: EigTool's (Wright & Trefethen 2001). One complex Schur decomposition W = Q T Q^H (O(n^3), once); by
// unitary invariance sigma_min(zI - W) = sigma_min(zI - T), and at each z inverse Lanczos on (T_z^H T_z)^{-1},
// T_z = zI - T, costs two triangular solves, O(n^2), per step. Dense, CPU, Eigen only: n up to a few thousand.
#pragma once
#include <Eigen/Core>

#include <complex>
#include <cstdint>
#include <limits>

namespace convdyn::linalg {

/// Options of every sigma_min evaluation.
struct PseudospectrumOptions {
  double tol = 1e-10;        ///< relative accuracy of sigma_min, in (0, 1); see SchurPseudospectrum::sigma_min
  int max_iterations = 100;  ///< Lanczos steps (each two triangular solves), >= 1; at most n are ever taken
};

/// sigma_min(zI - W) at one z. Converged or not, the value is an upper bound on the exact one up to rounding (a
/// Ritz value of (T_z^H T_z)^{-1} is at most its largest eigenvalue).
struct SigmaMin {
  double value = std::numeric_limits<double>::quiet_NaN();
  bool converged = false;  ///< met the tolerance (see sigma_min); else `value` is the last estimate
  int iterations = 0;      ///< Lanczos steps; 0 when z is exactly an eigenvalue (value 0)
};

/// Scratch memory of sigma_min: the Lanczos basis (n x min(max_iterations, n) complex) and a few vectors, no
/// copy of T. Reusing one across calls saves the allocations; one per thread (not shareable between threads).
/// The result never depends on what the workspace held before.
class PseudospectrumWorkspace {
 private:
  friend class SchurPseudospectrum;
  Eigen::MatrixXcd v_;
  Eigen::VectorXcd w_, h_, d_;
  Eigen::VectorXd alpha_, beta_;
};

/// W = Q T Q^H (T upper triangular, complex) of a dense real n x n W, held for sigma_min evaluations. Only T
/// is kept (n^2 complex, 16 n^2 bytes), for W divided by a power of two near ||W||_F (exact), so that the
/// decomposition and the solves work at norm 1 whatever the scale of W. Immutable after construction: concurrent
/// const calls are safe (each with its own workspace).
class SchurPseudospectrum {
 public:
  using Scalar = std::complex<double>;

  /// Complex Schur form by Eigen::ComplexSchur (real Hessenberg reduction, then complex shifted QR; about
  /// 25 n^3 flops, no Q). Throws ValueError for an empty or non-square W, for NaN/Inf entries, and when the
  /// QR iteration does not converge (Eigen's limit, 30 n sweeps; not seen with finite input).
  explicit SchurPseudospectrum(const Eigen::MatrixXd& w);
  /// From an already computed upper triangular Schur factor T of W (e.g. LAPACK zgees); entries below the
  /// diagonal must be exactly 0. `conjugate_symmetric`: W is real, so sigma_min(conj z) = sigma_min(z) (the
  /// default window is then symmetric and distance_to_instability samples only Im z >= 0). ||W||_2 is
  /// bounded by ||T||_F. Throws ValueError for an empty, non-square or non-triangular T, or NaN/Inf entries.
  static SchurPseudospectrum from_schur(const Eigen::MatrixXcd& t, bool conjugate_symmetric = false);

  std::int64_t n() const noexcept { return n_; }
  /// The diagonal of T, in Schur order (not sorted).
  const Eigen::VectorXcd& eigenvalues() const noexcept { return eigenvalues_; }
  /// An upper bound on ||W||_2: min(||W||_F, sqrt(||W||_1 ||W||_inf)) (only ||T||_F from from_schur). Used
  /// for search ranges: sigma_min(zI - W) >= |z| - ||W||_2.
  double norm2_upper_bound() const noexcept { return norm_bound_; }
  bool conjugate_symmetric() const noexcept { return conjugate_symmetric_; }

  /// sigma_min(zI - W) by inverse Lanczos with full reorthogonalisation (two classical Gram-Schmidt passes)
  /// from a fixed start vector (std::mt19937_64, fixed seed: the same z gives the same bits on every call).
  /// Step k gives theta_k, the largest eigenvalue of the k x k Lanczos tridiagonal, and sigma_k =
  /// theta_k^{-1/2}. Converged when
  ///   |sigma_k - sigma_{k-1}| <= tol sigma_k  and  r_k^2 / (2 gap_k theta_k) <= tol
  /// (r_k = beta_k |last entry of the top Ritz vector|: the residual; gap_k = theta_k - second Ritz value:
  /// Kato-Temple's estimate of the relative error of theta_k), or when r_k <= tol theta_k (an eigenvalue
  /// within tol theta_k), or when the Krylov space is all of C^n. Near-multiple smallest singular values
  /// converge slowly but not wrongly: the second test holds the stop back.
  /// Exactly at an eigenvalue (a zero diagonal entry of T_z) the value is 0 (converged, 0 iterations). The
  /// operator is rescaled after its first application, so values down to ~1e-300 ||W|| keep their relative
  /// accuracy; when a triangular solve overflows even so (z an eigenvalue to working precision, far below the
  /// Schur decomposition's own backward error eps ||W||), the best upper bound so far is returned (0 when the
  /// first solve overflows), converged. Never NaN for finite z.
  /// Cost: iterations x (n^2 complex multiply-adds for the two solves, memory-bound: ~1 ms at n = 1000, ~15 ms
  /// at n = 3000 + 4 n k for the reorthogonalisation). Seen: 5 to 45 steps (mean 7 to 20) on random, Grcar and
  /// convolution matrices, fewer deep inside the pseudospectrum, where sigma_min is well separated. Slowest
  /// where many singular values crowd sigma_min, e.g. a normal W with a spectrum spread along a line and z far
  /// from it: there max_iterations = 100 can end it unconverged, about 1e-5 too high.
  /// Throws ValueError for a non-finite z or tol outside (0, 1), max_iterations < 1.
  SigmaMin sigma_min(Scalar z, const PseudospectrumOptions& opt = {}) const;
  SigmaMin sigma_min(Scalar z, const PseudospectrumOptions& opt, PseudospectrumWorkspace& ws) const;

 private:
  SchurPseudospectrum() = default;
  void init(Eigen::MatrixXcd t_scaled, double scale, double norm_bound, bool conjugate_symmetric);
  SigmaMin inverse_lanczos(Scalar z_scaled, const PseudospectrumOptions& opt, PseudospectrumWorkspace& ws) const;

  std::int64_t n_ = 0;
  Eigen::MatrixXcd t_;           ///< T / scale_ (strictly lower part zero): the Schur factor of W / scale_
  double scale_ = 1.0;           ///< a power of two within a factor 2 of ||W||_F
  Eigen::VectorXcd eigenvalues_; ///< diagonal of T (unscaled)
  Eigen::VectorXcd start_;       ///< unit Lanczos start vector
  double norm_bound_ = 0.0;
  bool conjugate_symmetric_ = true;
};

/// sigma_min on the grid re x im.
struct PseudospectrumGrid {
  Eigen::VectorXd re, im;
  Eigen::MatrixXd sigma;        ///< (im.size(), re.size()): sigma(i, j) = sigma_min((re(j) + i im(i)) I - W)
  Eigen::MatrixXi iterations;   ///< Lanczos steps per point, same shape
  Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic> converged;  ///< per point, same shape
  std::int64_t unconverged = 0; ///< points with converged false
  int max_iterations_used = 0;  ///< largest entry of `iterations`
  PseudospectrumOptions options;
  bool all_converged() const noexcept { return unconverged == 0; }
};

/// Every grid point by SchurPseudospectrum::sigma_min. With threads > 1, that many std::threads (at most one
/// per point) take points from a shared counter, each with its own workspace; every point is computed
/// exactly as in the serial loop, so the result is bitwise identical for any `threads`. Cost: points x one
/// sigma_min. Throws ValueError for non-finite re/im entries, threads < 1 or invalid options.
PseudospectrumGrid sigma_min_grid(const SchurPseudospectrum& ps, const Eigen::VectorXd& re,
                                  const Eigen::VectorXd& im, const PseudospectrumOptions& opt = {},
                                  int threads = 1);

/// A rectangle of the complex plane.
struct Window {
  double re_lo = 0.0, re_hi = 0.0, im_lo = 0.0, im_hi = 0.0;
};

/// The bounding box of the eigenvalues, enlarged on every side by pad x max(box width, box height,
/// norm2_upper_bound()) (1 for W = 0), so a single eigenvalue still gets a window. With conjugate symmetry,
/// symmetric in Im (im_lo = -im_hi; an odd number of rows then holds the real axis). Throws ValueError for
/// pad < 0 or not finite.
Window default_window(const SchurPseudospectrum& ps, double pad = 0.25);

/// sigma_min_grid on n_re x n_im equispaced points spanning `w` (both >= 1; a single point is the low corner).
PseudospectrumGrid sigma_min_grid(const SchurPseudospectrum& ps, const Window& w, Eigen::Index n_re,
                                  Eigen::Index n_im, const PseudospectrumOptions& opt = {}, int threads = 1);

struct AbscissaOptions {
  double tol = 1e-10;      ///< on Re z of the crossings, relative to max(norm2_upper_bound(), grid width,
                           ///< grid height); in (0, 1). The search over Im z stops at sqrt(tol) of that
                           ///< scale (the crossing is flat in Im z at its maximum)
  bool refine_im = true;   ///< also maximise the crossing over Im z between the rows next to the best one
  PseudospectrumOptions sigma;
};

/// alpha_eps(W) = max{Re z : sigma_min(zI - W) <= eps}.
struct PseudospectralAbscissa {
  double value = std::numeric_limits<double>::quiet_NaN();  ///< a point z = value + i im with sigma <= eps
  double im = std::numeric_limits<double>::quiet_NaN();
  double eps = 0.0;
  /// The best crossing found from the grid (before the comparison with max Re lambda + eps); NaN when no grid
  /// point has sigma <= eps or the level set reaches the right edge.
  double crossing = std::numeric_limits<double>::quiet_NaN();
  /// The eps-level set reaches the grid's last column: value is that column's Re z, only a lower bound on
  /// alpha_eps (enlarge the window to the right).
  bool at_right_edge = false;
  /// value is max Re lambda + eps (the eps-disk around an eigenvalue lies in Lambda_eps), which exceeded every
  /// grid crossing by more than the tolerance, or no grid point had sigma <= eps: the grid is too coarse for
  /// this eps.
  bool from_eigenvalues = false;
  bool converged = true;          ///< every sigma_min evaluated here (and on the grid) converged
  std::int64_t evaluations = 0;   ///< sigma_min calls made here (the grid's not counted)
};

/// alpha_eps from a grid of ps (sigma_min_grid; re and im strictly increasing). In each row, the rightmost
/// grid point with sigma <= eps; the rows whose point is rightmost (every other row's crossing lies left of
/// it) are refined by a bracketed root search on sigma_min(x + i y) - eps along the row (regula falsi,
/// Illinois, with bisection steps; sigma_min is continuous) to tol; with refine_im, Brent's method then
/// maximises that crossing over Im z between the best row's neighbours (the exact maximiser usually lies
/// between rows). The value is always a point verified to have sigma <= eps: a lower bound on alpha_eps,
/// tight to tol when the grid resolved the rightmost part of the level set (a component narrower than the
/// grid spacing, or one above or below the window, can be missed). alpha_eps >= max Re lambda + eps always.
/// Throws ValueError for eps not positive and finite, an empty or inconsistent grid, or invalid options.
PseudospectralAbscissa pseudospectral_abscissa(const SchurPseudospectrum& ps, const PseudospectrumGrid& grid,
                                               double eps, const AbscissaOptions& opt = {});

struct InstabilityOptions {
  double c = 1.0;         ///< the threshold line Re z = c: dr/dt = -r + W r is stable iff Re lambda(W) < 1
  int samples = 300;      ///< equispaced Im z samples on [0, Y] ([-Y, Y] without conjugate symmetry), >= 2
  int refine = 4;         ///< local minima of the samples refined by Brent's method, >= 1
  double y_tol = 1e-8;    ///< Brent's tolerance on Im z, relative to max(norm2_upper_bound(), |c|); in (0, 1)
  PseudospectrumOptions sigma;
  int threads = 1;        ///< for the samples (sigma_min_grid)
};

/// d = min over y of sigma_min((c + i y) I - W): the smallest ||E||_2 (complex E) for which W + E has an
/// eigenvalue on Re z = c, equivalently the smallest eps whose pseudospectrum reaches Re z = c.
struct DistanceToInstability {
  double value = std::numeric_limits<double>::quiet_NaN();  ///< sigma_min at (c + i y): an upper bound on d
  double y = std::numeric_limits<double>::quiet_NaN();      ///< Im z of that point
  double c = 1.0;
  bool unstable = false;         ///< some eigenvalue has Re lambda >= c: value 0 at its Im
  double y_max = 0.0;            ///< Y: beyond it sigma_min cannot be below the best sample
  bool converged = true;         ///< every sigma_min evaluation converged
  std::int64_t evaluations = 0;  ///< sigma_min calls
};

/// Distance to instability. 0 (unstable) when max Re lambda >= c. Otherwise sigma_min is evaluated at y = 0 and
/// at Im lambda of the eigenvalues nearest the line; with b the best of these, sigma_min((c + iy) I - W) >=
/// |c + iy| - ||W||_2 > b wherever |c + iy| > ||W||_2 + b, so the minimum lies in |y| <= Y = sqrt((||W||_2 +
/// b)^2 - c^2) (with the norm2_upper_bound()). `samples` points on that range, then Brent's method between the
/// neighbours of the `refine` smallest local minima of all points evaluated. The value is sigma_min at the
/// point found, an upper bound on d, equal to it to tolerance when the global minimum's basin was sampled (a
/// dip narrower than the sample spacing away from every eigenvalue's Im can be missed). Throws ValueError for
/// a non-finite c or invalid options.
DistanceToInstability distance_to_instability(const SchurPseudospectrum& ps, const InstabilityOptions& opt = {});

}  // namespace convdyn::linalg
