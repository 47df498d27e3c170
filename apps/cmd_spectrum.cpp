// convdyn spectrum CKPT (--layer NAME... | --all): eigenvalues of recurrent operators, table + HDF5.
#include <fmt/format.h>

#include <algorithm>

#include <chrono>
#include <cmath>
#include <optional>

#include "analysis/results.hpp"
#include "analysis/spectrum.hpp"
#include "analysis/convrnn_operators.hpp"
#include "analysis/model_run.hpp"
#include "model/convrnn/network_jacobian.hpp"
#include "model/io/images.hpp"
#include "linalg/solvers/krylov_schur.hpp"
#include "linalg/solvers/solve.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/error.hpp"

namespace convdyn::apps {

namespace {
// The command line as given; spectrum_options() turns it into typed options once.
struct SpectrumArgs {
  CheckpointArgs ckpt;
  std::vector<std::string> layers;
  bool all = false;
  std::string method = "krylov-schur";
  std::string which = "LR";
  std::string dtype = "float64";
  std::string device = "cpu";
  std::string padding = "zero";
  std::string reorth = "ifneeded";
  std::string out;
  bool force = false;
  bool append = false;
  bool quiet = false;
  bool allow_unconverged = false;
  bool condition = false;
  std::string drive;  ///< zoo: the cell input x for the Jacobians
  std::string image;  ///< zoo, --layer network: the constant image of the whole network's fixed point
  bool any_size = false;
  linalg::SolveOptions solve = analysis::default_spectrum_solve();  ///< numbers bound directly (k, tol, ...)
};

analysis::SpectrumOptions spectrum_options(const SpectrumArgs& a) {
  analysis::SpectrumOptions o;
  o.solve = a.solve;
  o.solve.method = linalg::parse_method(a.method);
  o.solve.common.which = linalg::parse_which(a.which);
  o.solve.krylov_schur.reorthogonalize = linalg::parse_reorthogonalization(a.reorth);
  o.dtype = parse_dtype(a.dtype);
  o.device = parse_operator_device(a.device, o.solve.method);
  o.solve.dense_cuda_device = dense_cuda_device(a.device, o.solve.method);
  o.padding = linalg::parse_padding(a.padding);
  o.condition = a.condition;
  if (!a.quiet) o.progress = [](const std::string& line) { note(false, line); };
  return o;
}

std::string fmt_complex(std::complex<double> z) {
  if (z.imag() == 0.0) return fmt::format("{:+.10f}", z.real());
  return fmt::format("{:+.10f} {} {:.10f}i", z.real(), z.imag() < 0 ? '-' : '+', std::abs(z.imag()));
}

void print_layer(const analysis::LayerSpectrum& s, std::int64_t show) {
  const auto& r = s.result;
  const auto& L = s.layer;
  fmt::print("\n{}  (C={} H={} W={} n={}, {} padding, {})\n", L.name, L.channels, L.height, L.width, L.n,
             L.padding, L.parametrisation);
  std::string extra;
  if (r.method != "dense") extra = fmt::format(", {} matvecs, {} restarts, {}", r.matvecs, r.restarts, to_string(r.reason));
  if (r.search_rounds > 0)
    extra += fmt::format("; search: {} round(s), {} missed pair(s) found, {}", r.search_rounds, r.search_found,
                         r.search_complete ? "complete" : "INCOMPLETE (round budget exhausted)");
  fmt::print("  method {}, which {}, {} eigenvalues, {:.3f} s{}\n", r.method, linalg::to_string(r.which),
             r.values.size(), r.seconds, extra);
  const bool have_res = r.residuals.size() == r.values.size();
  const bool have_cond = r.condition.size() == r.values.size();
  fmt::print("  {:>4}  {:<44} {:>14} {:>11}{}{}\n", "#", "eigenvalue", "|lambda|", "Re - 1", have_res ? "    residual" : "",
             have_cond ? "   condition  error bound" : "");
  const auto m = std::min<Eigen::Index>(r.values.size(), show);
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto z = r.values[i];
    std::string res;
    if (have_res) res = fmt::format("  {:10.2e}{}", r.residuals[i], r.converged.size() > i && !r.converged[i] ? " !" : "  ");
    if (have_cond)
      res += std::isnan(r.condition[i]) ? fmt::format("  {:>10} {:>12}", "unmatched", "-")
                                        : fmt::format("  {:10.3e} {:12.2e}", r.condition[i], r.error_bound[i]);
    fmt::print("  {:>4}  {:<44} {:>14.10f} {:>+11.3e}{}\n", i, fmt_complex(z), std::abs(z), z.real() - 1.0, res);
  }
  if (r.values.size() > m) fmt::print("  ... {} more in the results file\n", r.values.size() - m);
  if (r.values.size() > 0) {
    double rho = 0, abscissa = -INFINITY;
    for (Eigen::Index i = 0; i < r.values.size(); ++i) {
      rho = std::max(rho, std::abs(r.values[i]));
      abscissa = std::max(abscissa, r.values[i].real());
    }
    fmt::print("  max Re = {:.10f}, max |lambda| = {:.10f} (over the {} reported)\n", abscissa, rho, r.values.size());
  }
}

void print_header(const SpectrumArgs& a, const LoadedModel& m, std::size_t operators) {
  fmt::print("{}: {}, {} operator(s), method {}, which {}, k {}, {}\n", a.ckpt.path, m.net.architecture, operators,
             a.method, a.which, a.solve.common.k == 0 ? std::string("all") : std::to_string(a.solve.common.k),
             a.dtype);
}

// Prints one operator's spectrum, warns when it did not converge, writes it; returns 1 if unconverged.
int record(const SpectrumArgs& a, const analysis::LayerSpectrum& s, std::optional<analysis::ResultsWriter>& writer) {
  print_layer(s, a.solve.common.k == 0 ? 12 : a.solve.common.k);
  const bool ok = s.result.all_converged();
  if (!ok)
    fmt::print(stderr, "warning: {}: {} of {} eigenpairs did not converge to tol {:.1e} ({})\n", s.layer.name,
               s.result.values.size() - s.result.converged.count(), s.result.values.size(), s.result.tol,
               linalg::to_string(s.result.reason));
  if (writer) writer->write_layer(s);
  return ok ? 0 : 1;
}

// Commits the results file and gives the exit code: 3 when some operator did not converge (unless allowed).
int finish(const SpectrumArgs& a, std::optional<analysis::ResultsWriter>& writer, int unconverged) {
  if (writer) {
    writer->commit();
    fmt::print("\nwrote {}\n", a.out);
  }
  if (unconverged && !a.allow_unconverged) {
    fmt::print(stderr, "error: {} operator(s) did not converge (results are marked unconverged; "
                       "--allow-unconverged to exit 0)\n", unconverged);
    return 3;
  }
  return 0;
}

// A ConvRNN zoo checkpoint: cell Jacobians at their fixed points and the cells' linear parts.
int run_convrnn_spectrum(const SpectrumArgs& a, const analysis::SpectrumOptions& opt, const LoadedModel& m) {
  const auto& zoo = *m.convrnn;
  const auto targets = analysis::convrnn_targets(zoo);
  std::vector<const analysis::ConvRNNTarget*> chosen;
  if (a.all) {
    for (const auto& t : targets)
      if (t.square) chosen.push_back(&t);
  } else {
    for (const auto& name : a.layers) chosen.push_back(&analysis::find_convrnn_target(targets, name, a.ckpt.path));
  }
  analysis::ConvRNNPoint point;
  if (!a.drive.empty()) {
    std::string layer;
    for (const auto* t : chosen) {
      CONVDYN_CHECK(layer.empty() || t->layer == layer, ValueError,
                    "--drive is the input of one cell layer: choose operators of a single layer with --layer");
      layer = t->layer;
    }
    point.drive = read_drive(a.drive);
    point.drive_name = a.drive;
  }
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  print_header(a, m, chosen.size());
  int unconverged = 0;
  for (const auto* t : chosen) {
    note(a.quiet, fmt::format("[{}] building ({}) ...", t->name, t->role));
    auto built = analysis::build_convrnn_operator(zoo, *t, point, opt.dtype, opt.device);
    if (built.has_fixed_point && !built.fixed_point.converged)
      fmt::print(stderr, "warning: {}: no fixed point reached ({} after {} steps, residual {:.2e}); the Jacobian "
                         "is taken at the last state\n", t->name, built.fixed_point.status, built.fixed_point.steps,
                 built.fixed_point.residual);
    note(a.quiet, fmt::format("[{}] {} (n={}) ...", t->name, a.method, t->n()));
    auto s = analysis::compute_spectrum(*built.op, built.info, opt);
    unconverged += record(a, s, writer);
  }
  return finish(a, writer, unconverged);
}

// --layer network: the zoo's whole network, linearised jointly at its fixed point under a constant image.
int run_network_spectrum(const SpectrumArgs& a, const analysis::SpectrumOptions& opt) {
  CONVDYN_CHECK(a.layers.size() == 1, ValueError, "--layer network is analysed on its own: give no other --layer");
  CONVDYN_CHECK(a.drive.empty(), ValueError, "--drive is one cell layer's input; --layer network takes --image");
  auto z = load_zoo_network(a.ckpt, a.image, a.any_size, "--layer network");
  const auto& net = *z.net;
  const auto& image = z.image;
  const auto& m = z.model;
  const auto& described = z.described;
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}; image 0 of {} ({})\n", a.ckpt.path, net.describe(), a.image, described);
  note(a.quiet, fmt::format("[network] fixed point of the state map (n={}) ...", net.state_size()));
  const auto fp = model::find_zoo_fixed_point(net, image, {1e-12, 20000, 1e8});
  if (!fp.converged)
    fmt::print(stderr, "warning: network: no fixed point reached ({} after {} steps, residual {:.2e}); the Jacobian is "
                       "taken at the last state\n", fp.status, fp.steps, fp.residual);
  else
    note(a.quiet, fmt::format("[network] fixed point after {} steps, residual {:.1e}", fp.steps, fp.residual));
  const model::ZooNetworkJacobian J(net, image, fp.z);
  analysis::LayerInfo info;
  info.name = "network";
  info.n = J.size();
  info.padding = "same";
  info.parametrisation = fmt::format(
      "Jacobian of the whole {} network's state map (every cell layer's state and output{}) at its fixed point under "
      "image 0 of {} (fixed point {}, residual {:.1e})", net.family(), net.has_feedback() ? ", with the feedback edges" : "",
      a.image, fp.status, fp.residual);
  info.dtype = "float64";
  note(a.quiet, fmt::format("[network] {} (n={}) ...", a.method, J.size()));
  auto s = analysis::compute_spectrum(J, info, opt);
  const int unconverged = record(a, s, writer);
  return finish(a, writer, unconverged);
}

int run_spectrum(const SpectrumArgs& a, ModelCache& models) {
  CONVDYN_CHECK(a.all != !a.layers.empty(), ValueError, "give exactly one of --layer NAME or --all");
  const analysis::SpectrumOptions opt = spectrum_options(a);
  if (std::find(a.layers.begin(), a.layers.end(), "network") != a.layers.end()) return run_network_spectrum(a, opt);
  CONVDYN_CHECK(a.image.empty() && !a.any_size, ValueError, "--image and --any-size go with --layer network (zoo)");
  const LoadedModel& m = models.get(a.ckpt, a.layers, opt.dtype);
  if (m.kind == ModelKind::ConvRNN) return run_convrnn_spectrum(a, opt, m);
  CONVDYN_CHECK(a.drive.empty(), ValueError, "--drive applies to ConvRNN zoo checkpoints only");
  CONVDYN_CHECK(!(a.all && m.net.layers.empty()), ValueError,
                "{}: --all needs a recognised architecture (CordsNet); use --layer KEY --size H,W", a.ckpt.path);
  std::vector<const model::RecurrentLayer*> chosen;
  if (a.all) {
    for (const auto& l : m.net.layers) chosen.push_back(&l);
  } else {
    for (const auto& name : a.layers) chosen.push_back(&m.net.layer(name));
  }
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  print_header(a, m, chosen.size());
  int unconverged = 0;
  for (const auto* layer : chosen) {
    note(a.quiet, fmt::format("[{}] {} (n={}) ...", layer->name, a.method, layer->n()));
    auto s = analysis::compute_spectrum(*layer, opt);
    unconverged += record(a, s, writer);
  }
  return finish(a, writer, unconverged);
}
}  // namespace

void add_spectrum_command(CLI::App& app, const CommandContext& ctx) {
  auto a = std::make_shared<SpectrumArgs>();
  auto* cmd = app.add_subcommand("spectrum", "Eigenvalues of recurrent conv operators (table on stdout, HDF5 with --out)");
  add_checkpoint_options(*cmd, a->ckpt);
  cmd->add_option("--layer", a->layers,
                  "operator to analyse, as printed by inspect (e.g. area_conv.3; zoo: conv4 = the cell's state "
                  "Jacobian at its fixed point, conv4/gates/r/h = a linear part); repeatable");
  cmd->add_flag("--all", a->all, "analyse every recurrent operator of the checkpoint");
  cmd->add_option("--method", a->method,
                  "krylov-schur: restarted Arnoldi, matrix-free, any n, certified residuals (default); "
                  "dense: Eigen's eigensolver on the materialised matrix (ground truth, n <= --max-dense-n); "
                  "spectra / arpack: Spectra's GenEigsSolver / ARPACK dnaupd (independent second opinions); "
                  "arnoldi-qr: the published CordsNet method (--steps, --qr-iters; no convergence test: "
                  "its residuals are reported so its error shows)")
      ->capture_default_str()
      ->check(CLI::IsMember(linalg::method_names()));
  cmd->add_option("--k", a->solve.common.k, "number of eigenvalues to report (0 = all, dense only)")
      ->capture_default_str();
  cmd->add_option("--tol", a->solve.common.tol,
                  "a pair is converged when ||Av - lv|| <= tol * max(1, |l|), ||v|| = 1 (every method; arnoldi-qr "
                  "has no convergence test, so this only flags its pairs)")
      ->capture_default_str();
  cmd->add_option("--ncv", a->solve.common.ncv,
                  "subspace size of krylov-schur, spectra and arpack (0 = automatic: krylov-schur max(4k, k+40), "
                  "grown once by half when convergence stalls; spectra and arpack max(2k+1, k+20))")
      ->capture_default_str();
  cmd->add_option("--max-restarts", a->solve.common.max_restarts,
                  "krylov-schur, spectra, arpack: give up (and report unconverged) after this many restarts")
      ->capture_default_str();
  cmd->add_flag("--verify", a->solve.krylov_schur.verify,
                "krylov-schur: after convergence, search the complement of the converged pairs from a fresh start "
                "for eigenvalues the restarts missed (clustered spectra; costs ~1-3x more)");
  cmd->add_option("--reorth", a->reorth,
                  "krylov-schur: Gram-Schmidt reorthogonalization: ifneeded (a second pass only when the first "
                  "removed >30% of the norm, as ARPACK/SLEPc; basis checked at every restart) or always (CGS2)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ifneeded", "always"}));
  cmd->add_option("--sstep", a->solve.krylov_schur.sstep,
                  "krylov-schur: Arnoldi vectors per block Gram-Schmidt (s-step expansion: the same Krylov space, "
                  "the basis read once per block; 0 = automatic: 16 for n >= 4096, 1 = one vector at a time)")
      ->capture_default_str();
  cmd->add_option("--steps", a->solve.arnoldi_qr.steps, "arnoldi-qr: Arnoldi steps (published: 300)")
      ->capture_default_str();
  cmd->add_option("--qr-iters", a->solve.arnoldi_qr.qr_iters, "arnoldi-qr: unshifted QR iterations (published: 5000)")
      ->capture_default_str();
  cmd->add_option("--seed", a->solve.common.seed, "seed of the random start vector (every iterative method)")
      ->capture_default_str();
  cmd->add_option("--which", a->which,
                  "which eigenvalues: LR rightmost (decides stability), LM largest magnitude, SR leftmost, "
                  "SM smallest magnitude, LI largest |imag|")
      ->capture_default_str()
      ->check(CLI::IsMember({"LM", "LR", "SR", "SM", "LI"}));
  cmd->add_option("--dtype", a->dtype, "float64 (default) or float32 (operator arithmetic)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float64", "float32"}));
  cmd->add_option("--device", a->device,
                  "cpu, cuda or cuda:N: where the operator is built (needs a CUDA LibTorch); --method dense "
                  "--device cuda solves with cuSOLVER on that GPU")
      ->capture_default_str();
  cmd->add_option("--padding", a->padding, "zero (as the model) or circular (periodic boundary)")
      ->capture_default_str()
      ->check(CLI::IsMember({"zero", "circular"}));
  cmd->add_option("--max-dense-n", a->solve.max_dense_n, "largest n the dense method accepts on the CPU")
      ->capture_default_str();
  cmd->add_option("--drive", a->drive,
                  "zoo only: the cell layer's input x after its pre conv (.npy / HDF5 array [Cin,H,W]); default x = 0");
  cmd->add_option("--image", a->image,
                  "zoo, --layer network: the whole network (every layer, rgc's feedback edges) linearised at its "
                  "fixed point under this constant image (the file's first; 224x224 RGB in [0, 1], normalised as "
                  "the zoo does): a discrete map, so --which LM gives its spectral radius (stable iff < 1)");
  cmd->add_flag("--any-size", a->any_size, "zoo, --image: an image other than 224x224, at its own size");
  cmd->add_flag("--vectors", a->solve.common.vectors, "also compute eigenvectors, store them and report residuals ||Av - lv||");
  cmd->add_flag("--condition", a->condition,
                "also the condition number kappa = ||x|| ||y|| / |y^H x| of each eigenvalue (left vectors y from the same "
                "method on A^T, about twice the cost) and the first-order error bound kappa * residual on the "
                "eigenvalue: a residual certifies a nearby matrix, the bound the eigenvalue's digits");
  cmd->add_option("--out", a->out, "write results to this HDF5 file (docs/results-format.md)");
  cmd->add_flag("--force", a->force, "overwrite an existing --out file");
  cmd->add_flag("--append", a->append, "add to an existing --out file of the same checkpoint (e.g. spectra, then stability)");
  cmd->add_flag("--allow-unconverged", a->allow_unconverged, "exit 0 even when some eigenpairs did not converge");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress messages on stderr");
  cmd->callback([a, ctx] {
    if (ctx.parse_only) throw CommandResult(0);
    ModelCache own;
    throw CommandResult(run_spectrum(*a, ctx.models ? *ctx.models : own));
  });
}

}  // namespace convdyn::apps
