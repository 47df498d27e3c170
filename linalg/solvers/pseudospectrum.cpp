#include "linalg/solvers/pseudospectrum.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "linalg/error.hpp"

namespace convdyn::linalg {

namespace {

using Scalar = std::complex<double>;
using Eigen::Index;
constexpr double kInf = std::numeric_limits<double>::infinity();

void check_options(const PseudospectrumOptions& opt, const char* who) {
  CONVDYN_CHECK(opt.tol > 0 && opt.tol < 1, ValueError, "{}: tol={} must be in (0, 1)", who, opt.tol);
  CONVDYN_CHECK(opt.max_iterations >= 1, ValueError, "{}: max_iterations={} must be >= 1", who,
                opt.max_iterations);
}

/// The power of two 2^floor(log2 x) for x > 0 (within a factor 2 of x), kept inside [2^-1000, 2^1000] so that
/// it and its inverse are normal numbers: scaling by it is exact.
double power_of_two_near(double x) {
  if (!(x > 0) || !std::isfinite(x)) return 1.0;
  return std::ldexp(1.0, std::clamp(std::ilogb(x), -1000, 1000));
}

/// Unit vector, entries uniform in the square [-1, 1)^2, from std::mt19937_64 with a fixed seed. The raw
/// 64-bit outputs are converted by hand (std::uniform_real_distribution is implementation-defined), so the
/// vector, and every sigma_min, is the same on every platform.
Eigen::VectorXcd start_vector(Index n) {
  std::mt19937_64 gen(0x9e3779b97f4a7c15ULL);
  auto uniform = [&gen] { return static_cast<double>(gen() >> 11) * 0x1.0p-52 - 1.0; };
  Eigen::VectorXcd v(n);
  for (Index i = 0; i < n; ++i) {
    const double re = uniform();
    v(i) = Scalar(re, uniform());
  }
  return v / v.norm();
}

// The two triangular solves with S = T_z / rho, whose diagonal is `d` (= (z - t_ii) / rho) and whose entries
// above the diagonal are -g t_ij (g = 1 / rho), in place. Blocked like Eigen's own triangular solves (panels of
// 16): substitution inside the diagonal blocks, Eigen's matrix-vector kernel (GEMV; the factor must be complex,
// as a real one bypasses it) for the rest. Each solve streams the upper triangle of t once, n^2 / 2 complex
// multiply-adds, and is memory-bound: as fast as Eigen's triangularView solve (which would need a copy of T_z
// per z); plain column-by-column substitution is compute-bound, half as fast at n = 3000.
constexpr Index kBlock = 16;

/// x <- S^{-H} x. S^H is lower triangular with entries conj(S_ji): x_i = (x_i + g sum_{j<i} conj(t_ji) x_j) /
/// conj(d_i).
void solve_adjoint(const Eigen::MatrixXcd& t, const Eigen::VectorXcd& d, double g, Eigen::VectorXcd& x) {
  const Index n = t.rows();
  for (Index i0 = 0; i0 < n; i0 += kBlock) {
    const Index b = std::min(kBlock, n - i0);
    if (i0 > 0) x.segment(i0, b).noalias() += Scalar(g) * (t.block(0, i0, i0, b).adjoint() * x.head(i0));
    for (Index i = i0; i < i0 + b; ++i) {
      Scalar s = x(i);
      if (i > i0) s += g * t.col(i).segment(i0, i - i0).dot(x.segment(i0, i - i0));  // dot conjugates t
      x(i) = s / std::conj(d(i));
    }
  }
}

/// x <- S^{-1} x (back substitution).
void solve_upper(const Eigen::MatrixXcd& t, const Eigen::VectorXcd& d, double g, Eigen::VectorXcd& x) {
  const Index n = t.rows();
  for (Index i1 = n; i1 > 0; i1 -= kBlock) {
    const Index i0 = std::max<Index>(i1 - kBlock, 0), b = i1 - i0;
    for (Index j = i1 - 1; j >= i0; --j) {
      x(j) /= d(j);
      if (j > i0) x.segment(i0, j - i0) += (g * x(j)) * t.col(j).segment(i0, j - i0);
    }
    if (i0 > 0) x.head(i0).noalias() += Scalar(g) * (t.block(0, i0, i0, b) * x.segment(i0, b));
  }
}

/// Brent's minimisation without derivatives (Brent 1973, "localmin"/netlib fmin): golden-section steps with
/// parabolic interpolation, on [a, b], to an argument tolerance `tol` (plus sqrt(eps) |x|). Returns the best
/// (x, f(x)) evaluated. A minimum at an end is approached to within tol but the ends are not evaluated.
template <class F>
std::pair<double, double> brent_minimize(const F& f, double a, double b, double tol, int max_steps = 200) {
  const double golden = 0.5 * (3.0 - std::sqrt(5.0));
  const double sqrt_eps = std::sqrt(std::numeric_limits<double>::epsilon());
  double x = a + golden * (b - a), w = x, v = x;
  double fx = f(x), fw = fx, fv = fx;
  double d = 0.0, e = 0.0;
  for (int step = 0; step < max_steps; ++step) {
    const double m = 0.5 * (a + b);
    const double tol1 = sqrt_eps * std::abs(x) + tol / 3.0, tol2 = 2.0 * tol1;
    if (std::abs(x - m) <= tol2 - 0.5 * (b - a)) break;
    double p = 0.0, q = 0.0, r = 0.0;
    if (std::abs(e) > tol1) {  // a parabola through x, w, v
      r = (x - w) * (fx - fv);
      q = (x - v) * (fx - fw);
      p = (x - v) * q - (x - w) * r;
      q = 2.0 * (q - r);
      if (q > 0) p = -p; else q = -q;
      r = e;
      e = d;
    }
    if (std::abs(p) < std::abs(0.5 * q * r) && p > q * (a - x) && p < q * (b - x)) {
      d = p / q;  // parabolic step
      const double u = x + d;
      if (u - a < tol2 || b - u < tol2) d = x < m ? tol1 : -tol1;
    } else {
      e = x < m ? b - x : a - x;  // golden-section step into the larger part
      d = golden * e;
    }
    const double u = x + (std::abs(d) >= tol1 ? d : (d > 0 ? tol1 : -tol1));
    const double fu = f(u);
    if (fu <= fx) {
      (u < x ? b : a) = x;
      v = w, fv = fw, w = x, fw = fx, x = u, fx = fu;
    } else {
      (u < x ? a : b) = u;
      if (fu <= fw || w == x) {
        v = w, fv = fw, w = u, fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u, fv = fu;
      }
    }
  }
  return {x, fx};
}

/// A sign change of the continuous g in [lo, hi], given g(lo) = glo <= 0 < g(hi) = ghi: regula falsi with the
/// Illinois modification (the value at an end kept twice in a row is halved), a bisection step after three
/// steps that did not halve the bracket, and steps kept tol/4 inside it, until hi - lo <= tol. Returns the
/// final lo, a point with g <= 0.
template <class G>
double bracketed_root(const G& g, double lo, double glo, double hi, double ghi, double tol) {
  double flo = glo, fhi = ghi, ref = hi - lo;
  int side = 0, slow = 0;
  for (int step = 0; step < 200 && hi - lo > tol; ++step) {
    double x = slow >= 3 ? 0.5 * (lo + hi) : lo - flo * (hi - lo) / (fhi - flo);
    x = std::clamp(x, lo + 0.25 * tol, hi - 0.25 * tol);
    const double gx = g(x);
    if (gx <= 0) {
      lo = x, flo = gx;
      if (side == -1) fhi *= 0.5;
      side = -1;
    } else {
      hi = x, fhi = gx;
      if (side == 1) flo *= 0.5;
      side = 1;
    }
    if (hi - lo <= 0.5 * ref) {
      ref = hi - lo, slow = 0;
    } else {
      ++slow;
    }
  }
  return lo;
}

bool strictly_increasing(const Eigen::VectorXd& v) {
  for (Index i = 1; i < v.size(); ++i)
    if (!(v(i) > v(i - 1))) return false;
  return true;
}

Eigen::VectorXd linspace(Index n, double lo, double hi) {
  if (n == 1) return Eigen::VectorXd::Constant(1, lo);
  return Eigen::VectorXd::LinSpaced(n, lo, hi);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

SchurPseudospectrum::SchurPseudospectrum(const Eigen::MatrixXd& w) {
  CONVDYN_CHECK(w.rows() > 0 && w.rows() == w.cols(), ValueError,
                "pseudospectrum: W must be square and non-empty, got {}x{}", w.rows(), w.cols());
  CONVDYN_CHECK(w.allFinite(), ValueError, "pseudospectrum: W ({}x{}) has NaN or Inf entries", w.rows(),
                w.cols());
  const double fro = w.stableNorm();
  CONVDYN_CHECK(std::isfinite(fro), ValueError, "pseudospectrum: ||W||_F overflows (entries too large)");
  // The QR iteration runs on W / scale (exact): Eigen's shifts and Givens rotations underflow or overflow for
  // matrices of norm far from 1 (e.g. 1e-200 W).
  const double scale = power_of_two_near(fro);
  Eigen::ComplexSchur<Eigen::MatrixXd> schur(w.rows());
  schur.compute(w * (1.0 / scale), /*computeU=*/false);
  CONVDYN_CHECK(schur.info() == Eigen::Success, ValueError,
                "pseudospectrum: the complex Schur decomposition of the {}x{} W did not converge", w.rows(),
                w.cols());
  const double one = w.cwiseAbs().colwise().sum().maxCoeff(), inf = w.cwiseAbs().rowwise().sum().maxCoeff();
  init(schur.matrixT(), scale, std::min(fro, std::sqrt(one) * std::sqrt(inf)), true);
}

SchurPseudospectrum SchurPseudospectrum::from_schur(const Eigen::MatrixXcd& t, bool conjugate_symmetric) {
  CONVDYN_CHECK(t.rows() > 0 && t.rows() == t.cols(), ValueError,
                "pseudospectrum: T must be square and non-empty, got {}x{}", t.rows(), t.cols());
  CONVDYN_CHECK(t.allFinite(), ValueError, "pseudospectrum: T ({}x{}) has NaN or Inf entries", t.rows(),
                t.cols());
  for (Index j = 0; j < t.cols(); ++j)
    for (Index i = j + 1; i < t.rows(); ++i)
      CONVDYN_CHECK(t(i, j) == Scalar(0), ValueError,
                    "pseudospectrum: T must be upper triangular, but T({}, {}) = {}{:+}i", i, j, t(i, j).real(),
                    t(i, j).imag());
  const double fro = t.stableNorm();
  CONVDYN_CHECK(std::isfinite(fro), ValueError, "pseudospectrum: ||T||_F overflows (entries too large)");
  const double scale = power_of_two_near(fro);
  SchurPseudospectrum ps;
  ps.init(t * (1.0 / scale), scale, fro, conjugate_symmetric);
  return ps;
}

void SchurPseudospectrum::init(Eigen::MatrixXcd t_scaled, double scale, double norm_bound,
                               bool conjugate_symmetric) {
  n_ = t_scaled.rows();
  scale_ = scale;
  t_ = t_scaled.triangularView<Eigen::Upper>();
  eigenvalues_ = t_.diagonal() * scale;  // exact
  start_ = start_vector(n_);
  norm_bound_ = norm_bound;
  conjugate_symmetric_ = conjugate_symmetric;
}

SigmaMin SchurPseudospectrum::sigma_min(Scalar z, const PseudospectrumOptions& opt) const {
  PseudospectrumWorkspace ws;
  return sigma_min(z, opt, ws);
}

SigmaMin SchurPseudospectrum::sigma_min(Scalar z, const PseudospectrumOptions& opt,
                                        PseudospectrumWorkspace& ws) const {
  check_options(opt, "sigma_min");
  CONVDYN_CHECK(std::isfinite(z.real()) && std::isfinite(z.imag()), ValueError,
                "sigma_min: z = {}{:+}i must be finite", z.real(), z.imag());
  const Scalar zs = z / scale_;  // exact
  if (!std::isfinite(std::abs(zs))) {
    // |z| > 1e300 ||W||: sigma_min = |z| (1 + O(||W|| / |z|)) to every digit.
    SigmaMin s;
    s.value = std::abs(z);
    s.converged = true;
    return s;
  }
  SigmaMin s = inverse_lanczos(zs, opt, ws);
  s.value *= scale_;
  return s;
}

// Lanczos on A = mu (S^H S)^{-1}, S = T_z / rho (T scaled by 1 / scale_ already): rho, a power of two >= |z|,
// keeps S of norm O(1) for large |z|, and mu = mu1 mu2 (from the first application) keeps A v0 of norm 1 for
// tiny sigma_min. Then sigma_min(T_z) = rho sqrt(mu) / sqrt(theta_max(A)).
SigmaMin SchurPseudospectrum::inverse_lanczos(Scalar zs, const PseudospectrumOptions& opt,
                                              PseudospectrumWorkspace& ws) const {
  const Index n = n_;
  SigmaMin out;
  auto& d = ws.d_;
  d = (zs - t_.diagonal().array()).matrix();
  if ((d.array() == Scalar(0)).any()) {  // z is an eigenvalue: T_z is singular
    out.value = 0.0;
    out.converged = true;
    return out;
  }
  const double rho = power_of_two_near(std::max(1.0, std::abs(zs)));
  const double g = 1.0 / rho;
  d *= g;

  // First application, unscaled, measuring mu1 and mu2. An overflow means sigma_min(S) < ~1e-300.
  auto& w = ws.w_;
  w = start_;
  solve_adjoint(t_, d, g, w);
  const double nu1 = w.allFinite() ? w.stableNorm() : kInf;
  if (!std::isfinite(nu1)) {
    out.value = 0.0;
    out.converged = true;
    return out;
  }
  const double mu1 = 1.0 / nu1;
  w *= mu1;
  solve_upper(t_, d, g, w);
  const double nu2 = w.allFinite() ? w.stableNorm() : kInf;
  if (!std::isfinite(nu2)) {  // ||S^{-H} v0|| = nu1 with ||v0|| = 1: sigma_min(S) <= 1 / nu1
    out.value = rho / nu1;
    out.converged = true;
    out.iterations = 1;
    return out;
  }
  const double mu2 = 1.0 / nu2;
  w *= mu2;
  const double sqrt_mu = std::sqrt(mu1) * std::sqrt(mu2);

  const int m = static_cast<int>(std::min<std::int64_t>(opt.max_iterations, n));
  auto& v = ws.v_;
  if (v.rows() != n || v.cols() < m) v.resize(n, m);
  ws.alpha_.resize(m);
  ws.beta_.resize(m);
  v.col(0) = start_;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> tridiagonal;
  double sigma_prev = kInf;  // of S
  for (int k = 0; k < m; ++k) {
    if (k > 0) {
      w = v.col(k);
      solve_adjoint(t_, d, g, w);
      w *= mu1;
      solve_upper(t_, d, g, w);
      w *= mu2;
      if (!w.allFinite()) {  // cannot happen after a finite first application, barring round-off at the limit
        out.value = rho * sigma_prev;
        out.converged = true;
        return out;
      }
    }
    const auto vk = v.col(k);
    const double alpha = vk.dot(w).real();
    w -= alpha * vk;
    if (k > 0) w -= ws.beta_(k - 1) * v.col(k - 1);
    const auto basis = v.leftCols(k + 1);
    for (int pass = 0; pass < 2; ++pass) {  // full reorthogonalisation, CGS2
      ws.h_.noalias() = basis.adjoint() * w;
      w.noalias() -= basis * ws.h_;
    }
    ws.alpha_(k) = alpha;
    ws.beta_(k) = w.norm();

    tridiagonal.computeFromTridiagonal(ws.alpha_.head(k + 1), ws.beta_.head(k), Eigen::ComputeEigenvectors);
    const double theta = std::max(tridiagonal.eigenvalues()(k), std::numeric_limits<double>::min());
    const double residual = ws.beta_(k) * std::abs(tridiagonal.eigenvectors()(k, k));
    const double sigma = sqrt_mu / std::sqrt(theta);
    out.value = rho * sigma;
    out.iterations = k + 1;
    bool done = k + 1 == n || residual <= opt.tol * theta;
    if (!done && k > 0) {
      const double change = std::abs(sigma - sigma_prev) / sigma;
      const double gap = theta - tridiagonal.eigenvalues()(k - 1);
      const double estimate = gap > 0 ? 0.5 * residual * residual / (gap * theta) : kInf;
      done = change <= opt.tol && estimate <= opt.tol;
    }
    if (done) {
      out.converged = true;
      return out;
    }
    sigma_prev = sigma;
    if (k + 1 < m) v.col(k + 1) = w / ws.beta_(k);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

PseudospectrumGrid sigma_min_grid(const SchurPseudospectrum& ps, const Eigen::VectorXd& re,
                                  const Eigen::VectorXd& im, const PseudospectrumOptions& opt, int threads) {
  check_options(opt, "sigma_min_grid");
  CONVDYN_CHECK(threads >= 1, ValueError, "sigma_min_grid: threads={} must be >= 1", threads);
  CONVDYN_CHECK(re.allFinite() && im.allFinite(), ValueError,
                "sigma_min_grid: the grid coordinates must be finite");
  PseudospectrumGrid grid;
  grid.re = re;
  grid.im = im;
  grid.options = opt;
  const Index rows = im.size(), cols = re.size(), points = rows * cols;
  grid.sigma.resize(rows, cols);
  grid.iterations.resize(rows, cols);
  grid.converged.resize(rows, cols);

  std::atomic<Index> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    try {
      PseudospectrumWorkspace ws;
      for (Index p = next.fetch_add(1); p < points && !stop.load(); p = next.fetch_add(1)) {
        const Index i = p % rows, j = p / rows;
        const SigmaMin s = ps.sigma_min(Scalar(re(j), im(i)), opt, ws);
        grid.sigma(i, j) = s.value;
        grid.iterations(i, j) = s.iterations;
        grid.converged(i, j) = s.converged;
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  const Index n_threads = std::min<Index>(threads, std::max<Index>(points, 1));
  std::vector<std::thread> pool;
  try {
    for (Index t = 1; t < n_threads; ++t) pool.emplace_back(worker);
  } catch (...) {  // could not start a thread: stop the others before reporting
    stop = true;
    for (auto& th : pool) th.join();
    throw;
  }
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);

  grid.unconverged = static_cast<std::int64_t>((!grid.converged).count());
  grid.max_iterations_used = points > 0 ? grid.iterations.maxCoeff() : 0;
  return grid;
}

Window default_window(const SchurPseudospectrum& ps, double pad) {
  CONVDYN_CHECK(std::isfinite(pad) && pad >= 0, ValueError, "default_window: pad={} must be >= 0 and finite",
                pad);
  const Eigen::VectorXcd& ev = ps.eigenvalues();
  Window w{ev.real().minCoeff(), ev.real().maxCoeff(), ev.imag().minCoeff(), ev.imag().maxCoeff()};
  double size = std::max({w.re_hi - w.re_lo, w.im_hi - w.im_lo, ps.norm2_upper_bound()});
  if (!(size > 0)) size = 1.0;
  const double margin = pad * size;
  w.re_lo -= margin;
  w.re_hi += margin;
  if (ps.conjugate_symmetric()) {
    w.im_hi = std::max(std::abs(w.im_lo), std::abs(w.im_hi)) + margin;
    w.im_lo = -w.im_hi;
  } else {
    w.im_lo -= margin;
    w.im_hi += margin;
  }
  return w;
}

PseudospectrumGrid sigma_min_grid(const SchurPseudospectrum& ps, const Window& w, Index n_re, Index n_im,
                                  const PseudospectrumOptions& opt, int threads) {
  CONVDYN_CHECK(n_re >= 1 && n_im >= 1, ValueError, "sigma_min_grid: n_re={} and n_im={} must be >= 1", n_re,
                n_im);
  CONVDYN_CHECK(std::isfinite(w.re_lo) && std::isfinite(w.re_hi) && std::isfinite(w.im_lo) &&
                    std::isfinite(w.im_hi) && w.re_lo <= w.re_hi && w.im_lo <= w.im_hi,
                ValueError, "sigma_min_grid: window [{}, {}] x [{}, {}] must be finite with lo <= hi", w.re_lo,
                w.re_hi, w.im_lo, w.im_hi);
  return sigma_min_grid(ps, linspace(n_re, w.re_lo, w.re_hi), linspace(n_im, w.im_lo, w.im_hi), opt, threads);
}

// ---------------------------------------------------------------------------------------------------------------

PseudospectralAbscissa pseudospectral_abscissa(const SchurPseudospectrum& ps, const PseudospectrumGrid& grid,
                                               double eps, const AbscissaOptions& opt) {
  CONVDYN_CHECK(std::isfinite(eps) && eps > 0, ValueError, "pseudospectral_abscissa: eps={} must be > 0", eps);
  CONVDYN_CHECK(opt.tol > 0 && opt.tol < 1, ValueError, "pseudospectral_abscissa: tol={} must be in (0, 1)",
                opt.tol);
  check_options(opt.sigma, "pseudospectral_abscissa");
  const Index rows = grid.im.size(), cols = grid.re.size();
  CONVDYN_CHECK(rows > 0 && cols > 0 && grid.sigma.rows() == rows && grid.sigma.cols() == cols, ValueError,
                "pseudospectral_abscissa: grid sigma is {}x{}, expected (im.size(), re.size()) = ({}, {}), "
                "non-empty",
                grid.sigma.rows(), grid.sigma.cols(), rows, cols);
  CONVDYN_CHECK(strictly_increasing(grid.re) && strictly_increasing(grid.im), ValueError,
                "pseudospectral_abscissa: grid re and im must be strictly increasing");

  PseudospectralAbscissa out;
  out.eps = eps;
  out.converged = grid.all_converged();
  Index k_right = 0;
  const double disk = ps.eigenvalues().real().maxCoeff(&k_right) + eps;  // max Re lambda + eps <= alpha_eps
  const double disk_im = ps.eigenvalues()(k_right).imag();
  auto use_disk = [&] {
    out.value = disk;
    out.im = disk_im;
    out.from_eigenvalues = true;
  };

  // The rightmost grid point at or below eps in each row.
  std::vector<Index> right(static_cast<std::size_t>(rows), -1);
  Index best_j = -1, edge_row = -1;
  for (Index i = 0; i < rows; ++i) {
    for (Index j = cols - 1; j >= 0; --j) {
      if (grid.sigma(i, j) <= eps) {
        right[static_cast<std::size_t>(i)] = j;
        break;
      }
    }
    best_j = std::max(best_j, right[static_cast<std::size_t>(i)]);
    if (right[static_cast<std::size_t>(i)] == cols - 1 && edge_row < 0) edge_row = i;
  }
  if (best_j < 0) {
    use_disk();
    return out;
  }
  if (best_j == cols - 1) {
    out.at_right_edge = true;
    out.value = grid.re(cols - 1);
    out.im = grid.im(edge_row);
    if (disk > out.value) use_disk();
    return out;
  }

  const double scale = [&] {
    const double s = std::max({ps.norm2_upper_bound(), grid.re(cols - 1) - grid.re(0), grid.im(rows - 1) - grid.im(0)});
    return s > 0 ? s : 1.0;
  }();
  const double x_tol = opt.tol * scale, y_tol = std::sqrt(opt.tol) * scale;
  PseudospectrumWorkspace ws;
  auto g = [&](double x, double y) {
    ++out.evaluations;
    const SigmaMin s = ps.sigma_min(Scalar(x, y), opt.sigma, ws);
    out.converged = out.converged && s.converged;
    return s.value - eps;
  };
  double best_x = -kInf, best_y = 0.0;
  Index best_row = -1;
  auto record = [&](double x, double y) {
    if (x > best_x) best_x = x, best_y = y;
  };

  // Rows whose rightmost point is in column best_j: the crossing lies in [re(best_j), re(best_j + 1)]. Any other
  // row's crossing lies left of re(best_j).
  for (Index i = 0; i < rows; ++i) {
    if (right[static_cast<std::size_t>(i)] != best_j) continue;
    const double y = grid.im(i);
    const double x = bracketed_root([&](double xx) { return g(xx, y); }, grid.re(best_j),
                                    grid.sigma(i, best_j) - eps, grid.re(best_j + 1),
                                    grid.sigma(i, best_j + 1) - eps, x_tol);
    if (x > best_x) best_row = i;
    record(x, y);
  }

  // Between the best row's neighbours, maximise the crossing over Im z. At each y the bracket [xa, xb] starts at
  // the best row's rightmost grid point: where xa is not in the set, y scores below every crossing, the less the
  // farther from the best row (which steers the search back to it); where xb still is, xb itself (a verified
  // point) is the score.
  if (opt.refine_im && rows >= 2) {
    const double y_row = grid.im(best_row);
    const double ya = grid.im(std::max<Index>(best_row - 1, 0)), yb = grid.im(std::min(best_row + 1, rows - 1));
    const double h = grid.re(best_j + 1) - grid.re(best_j);
    const double xa = grid.re(best_j), xb = grid.re(best_j + 1) + h;
    auto crossing = [&](double y) {
      const double ga = g(xa, y);
      if (ga > 0) return xa - h * (1.0 + std::abs(y - y_row) / (yb - ya));
      const double gb = g(xb, y);
      if (gb <= 0) {
        record(xb, y);
        return xb;
      }
      const double x = bracketed_root([&](double xx) { return g(xx, y); }, xa, ga, xb, gb, x_tol);
      record(x, y);
      return x;
    };
    brent_minimize([&](double y) { return -crossing(y); }, ya, yb, y_tol);
  }
  out.value = out.crossing = best_x;
  out.im = best_y;
  if (disk > best_x + x_tol) use_disk();
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

DistanceToInstability distance_to_instability(const SchurPseudospectrum& ps, const InstabilityOptions& opt) {
  CONVDYN_CHECK(std::isfinite(opt.c), ValueError, "distance_to_instability: c={} must be finite", opt.c);
  CONVDYN_CHECK(opt.samples >= 2, ValueError, "distance_to_instability: samples={} must be >= 2", opt.samples);
  CONVDYN_CHECK(opt.refine >= 1, ValueError, "distance_to_instability: refine={} must be >= 1", opt.refine);
  CONVDYN_CHECK(opt.y_tol > 0 && opt.y_tol < 1, ValueError,
                "distance_to_instability: y_tol={} must be in (0, 1)", opt.y_tol);
  CONVDYN_CHECK(opt.threads >= 1, ValueError, "distance_to_instability: threads={} must be >= 1", opt.threads);
  check_options(opt.sigma, "distance_to_instability");

  DistanceToInstability out;
  out.c = opt.c;
  const double c = opt.c;
  const bool symmetric = ps.conjugate_symmetric();
  const Eigen::VectorXcd& ev = ps.eigenvalues();
  auto fold = [symmetric](double y) { return symmetric ? std::abs(y) : y; };
  Index k_right = 0;
  if (ev.real().maxCoeff(&k_right) >= c) {
    out.value = 0.0;
    out.y = fold(ev(k_right).imag());
    out.unstable = true;
    return out;
  }

  PseudospectrumWorkspace ws;
  auto f = [&](double y) {
    ++out.evaluations;
    const SigmaMin s = ps.sigma_min(Scalar(c, y), opt.sigma, ws);
    out.converged = out.converged && s.converged;
    return s.value;
  };
  std::vector<std::pair<double, double>> points;  // (y, sigma_min)
  points.emplace_back(0.0, f(0.0));
  // Seeds: Im lambda of the eigenvalues nearest the line, where the well-conditioned ones put their dips.
  std::vector<Index> order(static_cast<std::size_t>(ev.size()));
  std::iota(order.begin(), order.end(), Index{0});
  const std::size_t n_seeds = std::min(order.size(), static_cast<std::size_t>(2 * opt.refine + 2));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_seeds), order.end(),
                    [&](Index a, Index b) { return ev(a).real() > ev(b).real(); });
  for (std::size_t s = 0; s < n_seeds; ++s) {
    const double y = fold(ev(order[s]).imag());
    points.emplace_back(y, f(y));
  }
  double best = kInf;
  for (const auto& p : points) best = std::min(best, p.second);

  const double norm = ps.norm2_upper_bound();
  const double reach = norm + best;
  out.y_max = reach > std::abs(c) ? std::sqrt((reach - c) * (reach + c)) : 0.0;
  const Eigen::VectorXd ys = symmetric ? Eigen::VectorXd::LinSpaced(opt.samples, 0.0, out.y_max)
                                       : Eigen::VectorXd::LinSpaced(opt.samples, -out.y_max, out.y_max);
  const PseudospectrumGrid line = sigma_min_grid(ps, Eigen::VectorXd::Constant(1, c), ys, opt.sigma, opt.threads);
  out.evaluations += ys.size();
  out.converged = out.converged && line.all_converged();
  for (Index i = 0; i < ys.size(); ++i) points.emplace_back(ys(i), line.sigma(i, 0));

  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end(),
                           [](const auto& a, const auto& b) { return a.first == b.first; }),
               points.end());
  const std::size_t np = points.size();
  std::vector<std::size_t> minima;
  for (std::size_t k = 0; k < np; ++k) {
    const double left = k > 0 ? points[k - 1].second : kInf, right = k + 1 < np ? points[k + 1].second : kInf;
    if (points[k].second <= left && points[k].second <= right) minima.push_back(k);
  }
  std::sort(minima.begin(), minima.end(),
            [&](std::size_t a, std::size_t b) { return points[a].second < points[b].second; });
  if (minima.size() > static_cast<std::size_t>(opt.refine)) minima.resize(static_cast<std::size_t>(opt.refine));

  const std::size_t k_best = minima.empty() ? 0 : minima.front();
  out.y = points[k_best].first;
  out.value = points[k_best].second;
  const double y_tol = opt.y_tol * std::max({norm, std::abs(c), std::numeric_limits<double>::min()});
  for (std::size_t k : minima) {
    const double a = points[k > 0 ? k - 1 : k].first, b = points[k + 1 < np ? k + 1 : k].first;
    if (!(b > a)) continue;
    const auto [y, value] = brent_minimize(f, a, b, y_tol);
    if (value < out.value) out.y = y, out.value = value;
  }
  return out;
}

}  // namespace convdyn::linalg
