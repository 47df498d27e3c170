// convdyn eigvec CKPT --layer NAME: top eigenvectors of one recurrent operator by block power iteration.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include "analysis/results.hpp"
#include "analysis/spectrum.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/solvers/power_iteration.hpp"

namespace convdyn::apps {

namespace {
struct EigvecArgs {
  CheckpointArgs ckpt;
  std::string layer;
  std::string dtype = "float64";
  std::string device = "cpu";
  std::string padding = "zero";
  std::string out;
  bool force = false;
  bool quiet = false;
  bool no_fallback = false;
  bool allow_unconverged = false;
  linalg::PowerOptions opt;
};

std::string fmt_complex(std::complex<double> z) {
  if (z.imag() == 0.0) return fmt::format("{:+.10f}", z.real());
  return fmt::format("{:+.10f} {} {:.10f}i", z.real(), z.imag() < 0 ? '-' : '+', std::abs(z.imag()));
}

/// "ch 2 41%, ch 0 33%, ..." : the share of |v|^2 per channel, largest first (at most `show`).
std::string channel_energy(const Eigen::VectorXcd& v, std::int64_t channels, std::int64_t show) {
  const std::int64_t hw = v.size() / channels;
  std::vector<double> e(static_cast<std::size_t>(channels));
  for (std::int64_t c = 0; c < channels; ++c) e[std::size_t(c)] = v.segment(c * hw, hw).squaredNorm();
  const double total = std::accumulate(e.begin(), e.end(), 0.0);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(channels));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return e[std::size_t(a)] > e[std::size_t(b)]; });
  std::string s;
  for (std::int64_t i = 0; i < std::min(show, channels); ++i) {
    const auto c = idx[std::size_t(i)];
    s += fmt::format("{}ch {} {:.0f}%", i ? ", " : "", c, total > 0 ? 100.0 * e[std::size_t(c)] / total : 0.0);
  }
  if (channels > show) s += ", ...";
  return s;
}

int run_eigvec(const EigvecArgs& a, ModelCache& models) {
  linalg::PowerOptions opt = a.opt;
  opt.fallback = !a.no_fallback;
  const auto dtype = parse_dtype(a.dtype);
  const auto padding = linalg::parse_padding(a.padding);
  const LoadedModel& m = models.get(a.ckpt, {a.layer});
  CONVDYN_CHECK(m.kind != ModelKind::ConvRNN, ValueError,
                "{}: eigvec runs on CordsNet areas and kernels; for a ConvRNN zoo operator use "
                "`convdyn spectrum {} --layer {} --vectors`", a.ckpt.path, a.ckpt.path, a.layer);
  const auto& layer = m.net.layer(a.layer);
  // Open the output before computing: an unwritable destination fails now, not after the solve.
  auto writer = open_results(a.out, a.force, /*append=*/false, a.ckpt, m);
  const linalg::ConvOperator op(layer.weight, layer.height, layer.width, padding, dtype, linalg::parse_device(a.device));
  fmt::print("{}: {}, top {} eigenvector(s) by block power iteration ({} trials, tol {:.1e}, {})\n", a.ckpt.path,
             m.net.architecture, opt.count, opt.trials, opt.tol, a.dtype);
  if (!a.quiet) {
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    opt.progress = [&, t0, last](const linalg::PowerProgress& p) mutable {
      const auto now = std::chrono::steady_clock::now();
      // Quiet for short runs; then one line a second.
      if (now - t0 < std::chrono::seconds(2) || now - last < std::chrono::seconds(1)) return;
      last = now;
      note(false, fmt::format("  [{}] iteration {}, {}/{} converged, worst residual {:.1e}, factor {:.4f}/iter, "
                              "{} matvecs",
                              layer.name, p.iteration, p.converged, opt.count, p.worst_residual, p.rate,
                              p.matvecs));
    };
  }
  note(a.quiet, fmt::format("[{}] power iteration (n={}) ...", layer.name, op.size()));
  linalg::PowerReport rep;
  analysis::LayerSpectrum s;
  s.result = linalg::power_iteration(op, opt, &rep);
  s.layer = analysis::layer_info(layer, padding, dtype, op.device());

  const auto& r = s.result;
  fmt::print("\n{}  (C={} H={} W={} n={}, {} padding, {})\n", layer.name, layer.channels, layer.height, layer.width,
             op.size(), a.padding, layer.parametrisation);
  fmt::print("  method {}, block {}, {} iterations, {} matvecs, {:.3f} s, {}\n", r.method, rep.block, r.restarts,
             r.matvecs, r.seconds, linalg::to_string(r.reason));
  fmt::print("  {:>4}  {:<44} {:>14} {:>10} {:>9}  {}\n", "#", "eigenvalue", "|lambda|", "residual", "converged",
             "channel energy");
  for (Eigen::Index i = 0; i < r.values.size(); ++i)
    fmt::print("  {:>4}  {:<44} {:>14.10f} {:>10.2e} {:>9}  {}\n", i, fmt_complex(r.values(i)), std::abs(r.values(i)),
               r.residuals(i), r.converged(i) ? "yes" : "NO", channel_energy(r.vectors.col(i), layer.channels, 4));
  if (rep.gap_ratio >= 0)
    fmt::print("  |lambda_{}/lambda_{}| = {:.6f} (Ritz estimate; the rate of single-vector power iteration)\n",
               opt.count + 1, opt.count, rep.gap_ratio);
  if (!rep.note.empty()) fmt::print("  note: {}\n", rep.note);

  if (writer) {
    writer->write_layer(s);
    writer->commit();
    fmt::print("\nwrote {}\n", a.out);
  }
  if (!r.all_converged()) {
    fmt::print(stderr, "warning: {}: {} of {} eigenpairs did not converge to tol {:.1e} ({})\n", layer.name,
               r.values.size() - r.converged.count(), r.values.size(), r.tol, linalg::to_string(r.reason));
    if (!a.allow_unconverged) {
      fmt::print(stderr, "error: not converged (results are marked unconverged; --allow-unconverged to exit 0)\n");
      return 3;
    }
  }
  return 0;
}
}  // namespace

void add_eigvec_command(CLI::App& app, const CommandContext& ctx) {
  auto a = std::make_shared<EigvecArgs>();
  auto* cmd = app.add_subcommand(
      "eigvec",
      "Top eigenvectors (largest |lambda|) of one recurrent conv operator by block power iteration\n"
      "(the published CordsNet method, with a convergence test): the --trials random starts are applied\n"
      "together as one block each iteration, orthonormalised, and a Rayleigh-Ritz step every few iterations\n"
      "gives eigenvalues, eigenvectors and their true residuals ||Av - lv||. A dominant complex-conjugate\n"
      "pair yields a complex eigenvector; a gap too small to converge within --max-iters is detected early\n"
      "and (unless --no-fallback) the problem is handed to the Krylov-Schur solver. Prints a table and any\n"
      "such note; --out writes eigenvalues, residuals and /layers/<layer>/eigenvectors [p, C, H, W].");
  add_checkpoint_options(*cmd, a->ckpt);
  cmd->add_option("--layer", a->layer, "operator to analyse, as printed by inspect (e.g. area_conv.3)")->required();
  cmd->add_option("--count,-p", a->opt.count, "number of eigenvectors p (largest |lambda| first)")
      ->capture_default_str();
  cmd->add_option("--trials", a->opt.trials,
                  "random starts, iterated together as one block (block size max(trials, p+2)); more trials "
                  "converge faster when |lambda_2| is close to |lambda_1|")
      ->capture_default_str();
  cmd->add_option("--tol", a->opt.tol, "a pair converged when ||Av - lv|| <= tol * max(1, |l|), ||v|| = 1")
      ->capture_default_str();
  cmd->add_option("--max-iters", a->opt.max_iters,
                  "give up after this many block iterations (earlier when the observed rate predicts more)")
      ->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "seed of the random starts")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float64 (default) or float32 (operator arithmetic; use --tol >= 1e-5)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float64", "float32"}));
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N (the operator and the power-iteration batch; needs a CUDA LibTorch)")
      ->capture_default_str();
  cmd->add_option("--padding", a->padding, "zero (as the model) or circular (periodic boundary)")
      ->capture_default_str()
      ->check(CLI::IsMember({"zero", "circular"}));
  cmd->add_flag("--no-fallback", a->no_fallback,
                "on failure (gap too small, not converged) report it instead of retrying with Krylov-Schur");
  cmd->add_option("--out", a->out, "write results to this HDF5 file (docs/results-format.md)");
  cmd->add_flag("--force", a->force, "overwrite an existing --out file");
  cmd->add_flag("--allow-unconverged", a->allow_unconverged, "exit 0 even when some eigenpairs did not converge");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress messages on stderr");
  cmd->callback([a, ctx] {
    if (ctx.parse_only) throw CommandResult(0);
    ModelCache own;
    throw CommandResult(run_eigvec(*a, ctx.models ? *ctx.models : own));
  });
}

}  // namespace convdyn::apps
