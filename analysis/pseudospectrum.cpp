#include "analysis/pseudospectrum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/error.hpp"

namespace convdyn::analysis {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
void say(const PseudospectrumAnalysisOptions& opt, const std::string& s) {
  if (opt.progress) opt.progress(s);
}
}  // namespace

void check_pseudospectrum_size(const std::string& name, std::int64_t n, const PseudospectrumAnalysisOptions& opt) {
  // The Schur decomposition is ~25 n^3 flops on one core (Eigen's ComplexSchur): about 5 minutes at n = 3000.
  CONVDYN_CHECK(n <= opt.max_n, ValueError,
                "{}: n = {} exceeds the pseudospectrum's dense limit --max-n {} (a dense Schur decomposition, "
                "~{:.0f} MB and ~{:.0f} s here); pseudospectra need the dense size. For larger layers the numerical "
                "abscissa omega(W) from `convdyn stability` bounds the initial growth",
                name, n, opt.max_n, 16.0 * double(n) * double(n) * 3 / 1e6, 25.0 * std::pow(double(n), 3) / 1e9);
}

bool LayerPseudospectrum::all_converged() const {
  bool ok = grid.all_converged() && distance.converged;
  for (const auto& a : abscissae) ok = ok && a.converged;
  return ok;
}

LayerPseudospectrum compute_pseudospectrum(const linalg::LinearOperator& w, const LayerInfo& info,
                                           const PseudospectrumAnalysisOptions& opt) {
  CONVDYN_CHECK(opt.grid >= 2 && opt.grid <= 2000, ValueError, "--grid {}: expected 2 to 2000 points per axis", opt.grid);
  CONVDYN_CHECK(opt.threads >= 1, ValueError, "--threads {}: expected >= 1", opt.threads);
  CONVDYN_CHECK(!opt.eps.empty(), ValueError, "--eps: give at least one level");
  for (double e : opt.eps)
    CONVDYN_CHECK(std::isfinite(e) && e > 0, ValueError, "--eps {}: levels must be positive and finite", e);
  CONVDYN_CHECK(std::isfinite(opt.threshold), ValueError, "--threshold {}: expected a finite number", opt.threshold);
  if (opt.window) {
    const auto& b = *opt.window;
    CONVDYN_CHECK(std::isfinite(b.re_lo) && std::isfinite(b.re_hi) && std::isfinite(b.im_lo) && std::isfinite(b.im_hi) &&
                      b.re_lo < b.re_hi && b.im_lo < b.im_hi,
                  ValueError, "--window {},{},{},{}: expected RE_LO,RE_HI,IM_LO,IM_HI with RE_LO < RE_HI and IM_LO < IM_HI",
                  b.re_lo, b.re_hi, b.im_lo, b.im_hi);
  }
  const std::int64_t n = w.size();
  check_pseudospectrum_size(info.name, n, opt);
  const auto t0 = std::chrono::steady_clock::now();
  LayerPseudospectrum p;
  p.layer = info;
  say(opt, fmt::format("[{}] n={}: dense matrix and Schur decomposition ...", info.name, n));
  const Eigen::MatrixXd dense = linalg::detail::to_eigen(w.to_dense(opt.max_n));
  const linalg::SchurPseudospectrum ps(dense);
  p.seconds_schur = seconds_since(t0);
  p.eigenvalues = ps.eigenvalues();
  std::sort(p.eigenvalues.data(), p.eigenvalues.data() + p.eigenvalues.size(),
            [](std::complex<double> a, std::complex<double> b) {
              return a.real() != b.real() ? a.real() > b.real() : a.imag() > b.imag();
            });
  p.max_real = p.eigenvalues.size() ? p.eigenvalues[0].real() : -INFINITY;
  p.norm2_bound = ps.norm2_upper_bound();
  // The default window also reaches the stability line, so the eps-contours' crossings of it show.
  p.window = opt.window ? *opt.window : linalg::default_window(ps);
  if (!opt.window) {
    const double pad = 0.05 * (p.window.re_hi - p.window.re_lo);
    p.window.re_hi = std::max(p.window.re_hi, opt.threshold + pad);
  }
  say(opt, fmt::format("[{}] sigma_min on a {}x{} grid ({} thread(s)) ...", info.name, opt.grid, opt.grid, opt.threads));
  const auto t1 = std::chrono::steady_clock::now();
  p.grid = linalg::sigma_min_grid(ps, p.window, opt.grid, opt.grid, opt.sigma, opt.threads);
  p.seconds_grid = seconds_since(t1);
  linalg::AbscissaOptions ao;
  ao.sigma = opt.sigma;
  for (double e : opt.eps) p.abscissae.push_back(linalg::pseudospectral_abscissa(ps, p.grid, e, ao));
  linalg::InstabilityOptions io;
  io.c = opt.threshold;
  io.sigma = opt.sigma;
  io.threads = opt.threads;
  say(opt, fmt::format("[{}] distance to instability (Re z = {}) ...", info.name, opt.threshold));
  p.distance = linalg::distance_to_instability(ps, io);
  p.seconds_total = seconds_since(t0);
  return p;
}

void write_pseudospectrum(ResultsWriter& out, const LayerPseudospectrum& p) {
  const auto& L = p.layer;
  if (!out.has_layer(L.name)) {
    LayerSpectrum s;
    s.layer = L;
    s.result.values = p.eigenvalues;
    s.result.converged = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(p.eigenvalues.size(), true);
    s.result.method = "schur";
    s.result.which = linalg::Which::LR;
    s.result.seconds = p.seconds_schur;
    out.write_layer(s);
  }
  CONVDYN_CHECK(!out.has_layer(L.name + "/pseudospectrum"), IoError,
                "{}: already holds /layers/{}/pseudospectrum (write to a new file, or --force without --append)",
                out.path(), L.name);
  auto g = out.group("layers/" + L.name + "/pseudospectrum");
  g.attr("method", "complex Schur + inverse Lanczos");
  g.attr("n", static_cast<long long>(L.n));
  g.attr("threshold", p.distance.c);
  g.attr("max_real", p.max_real);
  g.attr("norm2_upper_bound", p.norm2_bound);
  g.attr("distance_to_instability", p.distance.value);
  g.attr("distance_im", p.distance.y);
  g.attr("unstable", p.distance.unstable);
  g.attr("tol", p.grid.options.tol);
  g.attr("unconverged", static_cast<long long>(p.grid.unconverged));
  g.attr("all_converged", p.all_converged());
  g.attr("seconds_schur", p.seconds_schur);
  g.attr("seconds_grid", p.seconds_grid);
  g.attr("seconds", p.seconds_total);
  g.dataset("re", p.grid.re);
  g.dataset("im", p.grid.im);
  g.matrix("sigma_min", p.grid.sigma);
  g.dataset("eigenvalues", p.eigenvalues);
  const auto k = static_cast<Eigen::Index>(p.abscissae.size());
  Eigen::VectorXd eps(k), value(k), im(k), edge(k), from_eig(k);
  for (Eigen::Index i = 0; i < k; ++i) {
    const auto& a = p.abscissae[static_cast<std::size_t>(i)];
    eps(i) = a.eps;
    value(i) = a.value;
    im(i) = a.im;
    edge(i) = a.at_right_edge ? 1.0 : 0.0;
    from_eig(i) = a.from_eigenvalues ? 1.0 : 0.0;
  }
  g.dataset("eps", eps);
  g.dataset("abscissa", value);
  g.dataset("abscissa_im", im);
  g.dataset("abscissa_at_right_edge", edge);
  g.dataset("abscissa_from_eigenvalues", from_eig);
}

}  // namespace convdyn::analysis
