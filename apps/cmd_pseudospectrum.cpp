// convdyn pseudospectrum CKPT --layer L: sigma_min(zI - W) on a grid, eps-pseudospectral abscissae and the
// distance to instability of a layer up to the dense size.
#include <fmt/format.h>

#include <optional>
#include <thread>

#include "analysis/pseudospectrum.hpp"
#include "analysis/results.hpp"
#include "analysis/spectrum.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"

namespace convdyn::apps {

namespace {
// The command line as given; the typed options are built from it once (pseudospectrum_options).
struct PseudospectrumArgs {
  CheckpointArgs ckpt;
  std::vector<std::string> layers;
  std::vector<double> window;  ///< RE_LO,RE_HI,IM_LO,IM_HI or empty
  std::vector<double> eps = {1e-3, 1e-2, 1e-1};
  int threads = 0;  ///< 0: every core
  std::string out;
  bool force = false;
  bool append = false;
  bool quiet = false;
  bool allow_unconverged = false;
  analysis::PseudospectrumAnalysisOptions opt;  ///< numbers bound directly (grid, threshold, max_n, tol)
};

analysis::PseudospectrumAnalysisOptions pseudospectrum_options(const PseudospectrumArgs& a) {
  analysis::PseudospectrumAnalysisOptions o = a.opt;
  if (!a.window.empty()) {
    CONVDYN_CHECK(a.window.size() == 4, ValueError, "--window: expected RE_LO,RE_HI,IM_LO,IM_HI (4 numbers), got {}",
                  a.window.size());
    o.window = linalg::Window{a.window[0], a.window[1], a.window[2], a.window[3]};
  }
  o.eps = a.eps;
  o.threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!a.quiet) o.progress = [](const std::string& s) { note(false, s); };
  return o;
}

void print_layer(const analysis::LayerPseudospectrum& p) {
  const auto& L = p.layer;
  fmt::print("\n{}  (C={} H={} W={} n={})\n", L.name, L.channels, L.height, L.width, L.n);
  fmt::print("  Schur {:.2f} s, grid {}x{} in {:.2f} s (at most {} Lanczos steps a point), total {:.2f} s\n",
             p.seconds_schur, p.grid.re.size(), p.grid.im.size(), p.seconds_grid, p.grid.max_iterations_used,
             p.seconds_total);
  fmt::print("  window Re [{:.4g}, {:.4g}], Im [{:.4g}, {:.4g}]; max Re lambda = {:.6f}; ||W||_2 <= {:.4f}\n",
             p.window.re_lo, p.window.re_hi, p.window.im_lo, p.window.im_hi, p.max_real, p.norm2_bound);
  fmt::print("  {:>9}  {:>14}  {:>10}  {}\n", "eps", "abscissa", "Im z", "");
  for (const auto& a : p.abscissae) {
    std::string flag = a.at_right_edge      ? "  (contour reaches the window's right edge: a lower bound; widen --window)"
                       : a.from_eigenvalues ? "  (max Re lambda + eps: the grid is too coarse for this eps)"
                                            : "";
    if (!a.converged) flag += "  (a sigma_min did not converge)";
    fmt::print("  {:>9.1e}  {:>14.8f}  {:>+10.4f}  {}{}\n", a.eps, a.value, a.im,
               a.value >= p.distance.c ? "crosses Re z = threshold" : "", flag);
  }
  const auto& d = p.distance;
  if (d.unstable)
    fmt::print("  distance to instability: 0 (an eigenvalue has Re lambda >= {})\n", d.c);
  else
    fmt::print("  distance to instability: {:.6e} at z = {} {:+.6f}i: a perturbation of W with ||E||_2 = {:.2e} "
               "puts an eigenvalue on Re z = {} (margin of the eigenvalues: {:.2e}){}\n",
               d.value, d.c, d.y, d.value, d.c, d.c - p.max_real, d.converged ? "" : " (not converged)");
  if (p.grid.unconverged > 0)
    fmt::print(stderr, "warning: {}: {} of {} grid points did not converge to tol {:.1e} (their values are upper "
                       "bounds)\n", L.name, p.grid.unconverged, p.grid.sigma.size(), p.grid.options.tol);
}

int run_pseudospectrum(const PseudospectrumArgs& a, ModelCache& models) {
  const auto opt = pseudospectrum_options(a);
  const LoadedModel& m = models.get(a.ckpt, a.layers, at::kDouble);
  CONVDYN_CHECK(m.kind != ModelKind::ConvRNN, ValueError,
                "{}: pseudospectrum takes CordsNet areas and conv kernels; a ConvRNN zoo cell's Jacobian is a "
                "discrete map (stable inside the unit circle), not supported in this version", a.ckpt.path);
  std::vector<const model::RecurrentLayer*> chosen;
  for (const auto& name : a.layers) chosen.push_back(&m.net.layer(name));
  for (const auto* l : chosen) analysis::check_pseudospectrum_size(l->name, l->n(), opt);
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}, {} layer(s), grid {}x{}, threshold Re z = {}\n", a.ckpt.path, m.net.architecture, chosen.size(),
             opt.grid, opt.grid, opt.threshold);
  int unconverged = 0;
  for (const auto* l : chosen) {
    const auto info = analysis::layer_info(*l, linalg::Padding::Zero, at::kDouble, c10::Device(c10::kCPU));
    const linalg::ConvOperator w(l->weight, l->height, l->width, linalg::Padding::Zero, at::kDouble);
    const auto p = analysis::compute_pseudospectrum(w, info, opt);
    print_layer(p);
    if (!p.all_converged()) ++unconverged;
    if (writer) analysis::write_pseudospectrum(*writer, p);
  }
  if (writer) {
    writer->commit();
    fmt::print("\nwrote {}\n", a.out);
  }
  if (unconverged && !a.allow_unconverged) {
    fmt::print(stderr, "error: {} layer(s) have unconverged sigma_min values (recorded as such; --allow-unconverged "
                       "to exit 0)\n", unconverged);
    return 3;
  }
  return 0;
}
}  // namespace

void add_pseudospectrum_command(CLI::App& app, const CommandContext& ctx) {
  auto a = std::make_shared<PseudospectrumArgs>();
  auto* cmd = app.add_subcommand(
      "pseudospectrum",
      "Where eigenvalues alone mislead: the eps-pseudospectra of a layer's recurrent conv W,\n"
      "{z : sigma_min(zI - W) <= eps}, i.e. the eigenvalues of every W + E with ||E||_2 <= eps. One complex\n"
      "Schur decomposition, then sigma_min on a grid by inverse Lanczos (EigTool's method); per --eps the\n"
      "pseudospectral abscissa (max Re z in the eps-pseudospectrum), and the distance to instability (the\n"
      "smallest eps whose pseudospectrum reaches Re z = --threshold; the linear model is stable iff every\n"
      "Re lambda < 1). Needs the dense size (--max-n; the Schur form costs ~25 n^3 flops, about 5 min at\n"
      "n = 3000); for larger layers the numerical abscissa omega(W) from `stability` bounds the initial growth.\n"
      "Writes /layers/<layer>/pseudospectrum (docs/results-format.md); notebooks/pseudospectra.ipynb draws it.");
  add_checkpoint_options(*cmd, a->ckpt);
  cmd->add_option("--layer", a->layers, "layer to analyse, as printed by inspect (repeatable)")->required();
  cmd->add_option("--grid", a->opt.grid, "grid points per axis")->capture_default_str();
  cmd->add_option("--window", a->window,
                  "RE_LO,RE_HI,IM_LO,IM_HI of the grid (default: the eigenvalues' box padded by a quarter of its "
                  "size or of ||W||, extended to the threshold)")
      ->delimiter(',')
      ->expected(4);
  cmd->add_option("--eps", a->eps, "levels of the pseudospectral abscissae, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--threshold", a->opt.threshold, "the stability line Re z = threshold")->capture_default_str();
  cmd->add_option("--tol", a->opt.sigma.tol, "relative accuracy of each sigma_min")->capture_default_str();
  cmd->add_option("--max-n", a->opt.max_n, "refuse larger layers (dense Schur decomposition)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "threads for the grid (0: every core)")->capture_default_str();
  cmd->add_option("--out", a->out, "write /layers/<layer>/pseudospectrum to this HDF5 file");
  cmd->add_flag("--force", a->force, "overwrite an existing --out file");
  cmd->add_flag("--append", a->append,
                "add to an existing --out file of the same checkpoint (e.g. after `spectrum`: the layer keeps its "
                "spectrum and gains the pseudospectrum)");
  cmd->add_flag("--allow-unconverged", a->allow_unconverged, "exit 0 even when some sigma_min did not converge");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress messages on stderr");
  cmd->callback([a, ctx] {
    if (ctx.parse_only) throw CommandResult(0);
    ModelCache own;
    throw CommandResult(run_pseudospectrum(*a, ctx.models ? *ctx.models : own));
  });
}

}  // namespace convdyn::apps
