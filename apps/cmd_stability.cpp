// convdyn stability CKPT: per-area verdicts (linear stability, fixed points, contraction certificate).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <optional>

#include "analysis/results.hpp"
#include "analysis/cordsnet_stability.hpp"
#include "analysis/convrnn_stability.hpp"
#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "analysis/model_run.hpp"
#include "model/convrnn/network.hpp"
#include "model/io/images.hpp"

namespace convdyn::apps {

namespace {
// The command line as given; the typed options are built from it once (stability_options).
struct StabilityArgs {
  CheckpointArgs ckpt;
  std::string inputs = "zero";
  std::int64_t limit = 8;
  std::string dtype = "float64";
  std::string device = "cpu";
  std::string out;
  bool force = false;
  bool append = false;
  bool quiet = false;
  std::string drive;  ///< zoo: the cell input x
  bool network = false;   ///< zoo: the whole network at its fixed point under --image
  std::string image;
  bool any_size = false;
  analysis::StabilityOptions opt;  ///< numbers bound directly (alpha, tol, k, ...); dtype/device set below
};

analysis::StabilityOptions stability_options(const StabilityArgs& a) {
  analysis::StabilityOptions o = a.opt;
  o.dtype = parse_dtype(a.dtype);
  o.device = linalg::parse_device(a.device);
  if (!a.quiet) o.progress = [](const std::string& s) { note(false, s); };
  return o;
}

int exit_code(analysis::Verdict v) {
  switch (v) {
    case analysis::Verdict::Stable: return 0;
    case analysis::Verdict::Unstable: return 1;
    case analysis::Verdict::Undecided: return 3;
  }
  return 3;
}

analysis::ConvRNNStabilityOptions zoo_options(const StabilityArgs& a) {
  analysis::ConvRNNStabilityOptions zo;
  zo.tol = a.opt.tol;
  zo.k = a.opt.k;
  zo.max_restarts = a.opt.max_restarts;
  zo.point.fixed_point.max_steps = a.opt.max_steps;
  zo.point.fixed_point.tol = a.opt.fixed_point_tol;
  if (!a.quiet) zo.progress = [](const std::string& s) { note(false, s); };
  return zo;
}

void print_zoo_report(const analysis::ConvRNNStabilityReport& rep) {
  fmt::print("\n{:<8} {:<17} {:>8} {:>10} {:>7} {:>10} {:>9} {:>9} {:>9}  {}\n", "layer", "cell", "n", "fp resid",
             "steps", "rho(J)", "margin", "bound", "||J||_2", "verdict");
  for (const auto& c : rep.layers)
    fmt::print("{:<8} {:<17} {:>8} {:>10.2e} {:>7} {:>10.6f} {:>+9.4f} {:>9.1e} {:>9.4f}  {}\n", c.target.name, c.cell,
               c.target.n(), c.fixed_point.residual, c.fixed_point.steps, c.spectral_radius, c.margin,
               c.spectral_radius_bound, c.norm2, analysis::to_string(c.verdict));
  fmt::print("\n");
  for (const auto& c : rep.layers) {
    fmt::print("{:<8} {:<9} {}\n", c.target.name, analysis::to_string(c.verdict), c.reason);
    if (c.contraction && c.cell != "timedecay")
      fmt::print("{:<8} certificate: ||J||_2 = {:.6f} < 1: the map contracts near the fixed point\n", "", c.norm2);
  }
  const bool network = rep.layers.size() == 1 && rep.layers.front().cell == "network";
  fmt::print("\nmodel: {} ({}; drive {})\n", analysis::to_string(rep.verdict),
             network ? "the whole network, linearised jointly" : "each cell layer on its own", rep.drive);
}

int run_convrnn_stability(const StabilityArgs& a, const LoadedModel& m) {
  CONVDYN_CHECK(a.device == "cpu", ValueError,
                "--device {}: the ConvRNN zoo analysis runs on the CPU in this version", a.device);
  CONVDYN_CHECK(a.inputs == "zero", ValueError,
                "--inputs (images) is for CordsNet areas; for a zoo model use --network --image FILE (the whole "
                "network under that image) or --drive FILE (one cell layer's input x)");
  analysis::ConvRNNStabilityOptions zo = zoo_options(a);
  if (!a.drive.empty()) {
    CONVDYN_CHECK(m.convrnn->layers.size() == 1, ValueError,
                  "--drive is the input of one cell layer, but {} has {} cell layers", a.ckpt.path, m.convrnn->layers.size());
    zo.point.drive = read_drive(a.drive);
    zo.point.drive_name = a.drive;
  }
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}, drive {}\n", a.ckpt.path, m.net.architecture, zo.point.drive_name);
  const auto rep = analysis::analyse_convrnn_stability(*m.convrnn, zo);
  print_zoo_report(rep);
  if (writer) {
    analysis::write_convrnn_stability(*writer, rep);
    writer->commit();
    fmt::print("wrote {}\n", a.out);
  }
  return exit_code(rep.verdict);
}

void print_report(const analysis::StabilityReport& rep) {
  fmt::print("\n{:<13} {:>7} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}  {}\n", "area", "n", "max Re(W)", "margin",
             "bound", "rho(W)", "||W||_2", "omega(W)", "||W||/rho", "verdict");
  for (const auto& a : rep.areas) {
    fmt::print("{:<13} {:>7} {:>11.6f} {:>+9.4f} {:>9.1e} {:>9.4f} {:>9.4f} {:>9.4f} {:>10.3f}  {}{}\n", a.layer.name,
               a.layer.n, a.abscissa, a.margin, a.abscissa_bound, a.spectral_radius, a.norm2, a.numerical_abscissa,
               a.spectral_radius > 0 ? a.norm2 / a.spectral_radius : 0.0, analysis::to_string(a.verdict),
               a.linear.all_converged() ? "" : " (spectrum unconverged)");
  }
  fmt::print("\nat the fixed points (discrete map (1-a)I + a*D*W, alpha = {}):\n", rep.alpha);
  fmt::print("{:<13} {:<10} {:>10} {:>7} {:>9} {:>12} {:>10} {:>9}  {}\n", "area", "input", "fp resid", "steps",
             "active", "max Re(DW)", "rho(map)", "bound", "verdict");
  for (const auto& a : rep.areas) {
    for (const auto& f : a.fixed_points) {
      if (f.reached) {
        fmt::print("{:<13} {:<10} {:>10.2e} {:>7} {:>8.1f}% {:>12.6f} {:>10.6f} {:>9.1e}  {}\n", a.layer.name, f.input,
                   f.residual, f.steps, 100 * f.active_fraction, f.masked_abscissa, f.spectral_radius,
                   f.spectral_radius_bound, analysis::to_string(f.verdict));
      } else {
        fmt::print("{:<13} {:<10} {:>10.2e} {:>7} {:>9}  no fixed point ({}): not analysed\n", a.layer.name, f.input,
                   f.residual, f.steps, "", f.status);
      }
    }
  }
  fmt::print("\n");
  for (const auto& a : rep.areas) {
    fmt::print("{:<13} {:<9} {}\n", a.layer.name, analysis::to_string(a.verdict), a.reason);
    if (a.contraction) fmt::print("{:<13} certificate: ||W||_2 = {:.6f} < 1, globally stable for every input\n", "", a.norm2);
    if (a.transient_amplification)
      fmt::print("{:<13} note: all Re lambda < 1 but omega(W) = {:.4f} >= 1: perturbations can grow transiently\n",
                 "", a.numerical_abscissa);
  }
  fmt::print("\ntransient growth of the linear model's time step M = (1-a)I + a*W: max over t <= {} of ||M^t||_2\n",
             rep.transient_max_steps);
  for (const auto& a : rep.areas) {
    const auto& g = a.transient;
    if (!a.transient_computed) {
      fmt::print("{:<13} {}\n", a.layer.name,
                 rep.transient_max_steps <= 0 ? "not computed (--transient-steps 0)"
                 : a.linear.all_converged() ? "unbounded: the linear regime grows (max Re lambda(W) >= 1)"
                                            : "not computed: the spectrum of W did not converge");
    } else if (g.peak_step == 0) {
      fmt::print("{:<13} 1 at t = 0: no growth (||M||_2 = {:.6f} <= 1)\n", a.layer.name, g.norms.empty() ? 1.0 : g.norms[0]);
    } else {
      fmt::print("{:<13} {}{:.6g} at t = {} steps ({:.4g} time constants){}{}\n", a.layer.name, g.peak_at_limit ? ">= " : "",
                 g.peak, g.peak_step, static_cast<double>(g.peak_step) * rep.alpha,
                 g.peak_at_limit ? ": still growing at the limit (--transient-steps)" : "",
                 g.converged ? "" : " (a norm solve did not converge: an estimate)");
    }
  }
  // The three questions apart: a model can be UNSTABLE in its linear regime yet locally stable at every
  // analysed fixed point, and only a contraction certifies every input.
  auto global = [](analysis::Verdict v) { return v == analysis::Verdict::Stable ? "STABLE" : "none"; };
  fmt::print("\nby level: global certificate (||W||_2 < 1: every input), linear regime (max Re lambda(W) < 1, all "
             "units active), fixed points (local, at the {} analysed input(s)):\n", rep.inputs.size());
  fmt::print("{:<13} {:<12} {:<14} {:<12}  {}\n", "area", "global", "linear", "fixed points", "verdict");
  for (const auto& a : rep.areas)
    fmt::print("{:<13} {:<12} {:<14} {:<12}  {}\n", a.layer.name, global(a.levels.global),
               analysis::to_string(a.levels.linear), analysis::to_string(a.levels.fixed_points),
               analysis::to_string(a.verdict));
  fmt::print("{:<13} {:<12} {:<14} {:<12}  {}\n", "model", global(rep.levels.global),
             analysis::to_string(rep.levels.linear), analysis::to_string(rep.levels.fixed_points),
             analysis::to_string(rep.verdict));
  fmt::print("(an area is STABLE with a global certificate, else UNSTABLE when its linear regime or a fixed point "
             "is, else STABLE when both are; the model takes the worst area)\n");
  fmt::print("\nmodel: {} (global certificate: {}; linear regime: {}; fixed points: {})\n",
             analysis::to_string(rep.verdict), global(rep.levels.global), analysis::to_string(rep.levels.linear),
             analysis::to_string(rep.levels.fixed_points));
}

// --network: the zoo's whole network linearised jointly at its fixed point under --image.
int run_network_stability(const StabilityArgs& a) {
  CONVDYN_CHECK(a.drive.empty() && a.inputs == "zero", ValueError,
                "--network takes --image (the whole network's input); --drive and --inputs are for the cell layers "
                "and CordsNet areas");
  CONVDYN_CHECK(a.device == "cpu", ValueError, "--device {}: the zoo analysis runs on the CPU in this version",
                a.device);
  auto z = load_zoo_network(a.ckpt, a.image, a.any_size, "--network");
  const auto& net = *z.net;
  const auto& image = z.image;
  const auto& m = z.model;
  const auto& described = z.described;
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}; image 0 of {} ({})\n", a.ckpt.path, net.describe(), a.image, described);
  const auto rep = analysis::analyse_zoo_network_stability(net, image, "image 0 of " + a.image, zoo_options(a));
  print_zoo_report(rep);
  if (writer) {
    analysis::write_convrnn_stability(*writer, rep);
    writer->commit();
    fmt::print("wrote {}\n", a.out);
  }
  return exit_code(rep.verdict);
}

int run_stability(const StabilityArgs& a, ModelCache& models) {
  if (a.network) return run_network_stability(a);
  CONVDYN_CHECK(a.image.empty() && !a.any_size, ValueError, "--image and --any-size go with --network (zoo)");
  const LoadedModel& m = models.get(a.ckpt, {}, parse_dtype(a.dtype));
  if (m.kind == ModelKind::ConvRNN) return run_convrnn_stability(a, m);
  CONVDYN_CHECK(a.drive.empty(), ValueError, "--drive applies to ConvRNN zoo checkpoints only");
  CONVDYN_CHECK(m.kind == ModelKind::CordsNet, ValueError,
                "{}: stability needs a CordsNet checkpoint (architecture not recognised)", a.ckpt.path);
  const analysis::StabilityOptions opt = stability_options(a);
  at::Tensor images;
  if (a.inputs != "zero") {
    model::InputOptions io;
    io.limit = a.limit;
    images = model::read_images(a.inputs, io);
  }
  auto writer = open_results(a.out, a.force, a.append, a.ckpt, m);
  fmt::print("{}: {}, {} areas, inputs: zero{}, alpha {}\n", a.ckpt.path, m.net.architecture, m.net.layers.size(),
             images.defined() ? fmt::format(" + {} image(s) from {}", images.size(0), a.inputs) : "", a.opt.alpha);
  const auto rep = analysis::analyse_stability(m.ckpt, m.net, images, opt);
  print_report(rep);
  if (writer) {
    analysis::write_stability(*writer, rep);
    writer->commit();
    fmt::print("wrote {}\n", a.out);
  }
  return exit_code(rep.verdict);
}
}  // namespace

void add_stability_command(CLI::App& app, const CommandContext& ctx) {
  auto a = std::make_shared<StabilityArgs>();
  auto* cmd = app.add_subcommand(
      "stability",
      "Is the model stable, where, and by what margin? Per area: rightmost eigenvalue of W (linear model),\n"
      "local stability of the discrete map at the fixed point of each input, the contraction certificate\n"
      "||W||_2 < 1 and the numerical abscissa. Exit code 0 only when every area is STABLE (1 UNSTABLE,\n"
      "3 UNDECIDED, 2 error).\n"
      "ConvRNN zoo checkpoints: per cell layer, the spectral radius of the state Jacobian at the cell's fixed\n"
      "point under a constant drive (--drive, default x = 0) and ||J||_2; timedecay has J = m I. With --network\n"
      "--image FILE: the whole network (every layer, rgc's feedback edges) at the fixed point of its state map\n"
      "under that constant image, judged by the joint Jacobian's spectral radius.");
  add_checkpoint_options(*cmd, a->ckpt);
  cmd->add_option("--inputs", a->inputs,
                  "zero (spontaneous activity only), or images: .npy / HDF5 [N,C,H,W] or MNIST IDX "
                  "(*-images-idx3-ubyte[.gz]); uint8 pixels are divided by 255. The zero input is always analysed")
      ->capture_default_str();
  cmd->add_option("--drive", a->drive,
                  "zoo only (one cell layer): the layer's input x after its pre conv, .npy / HDF5 [Cin,H,W]");
  cmd->add_flag("--network", a->network,
                "zoo: the whole network linearised jointly at its fixed point under --image (not each cell alone)");
  cmd->add_option("--image", a->image,
                  "zoo, --network: the constant image (the file's first; 224x224 RGB in [0, 1], normalised as the "
                  "zoo does)");
  cmd->add_flag("--any-size", a->any_size, "zoo, --network: an image other than 224x224, at its own size");
  cmd->add_option("--limit", a->limit, "analyse at most this many images")->capture_default_str();
  cmd->add_option("--alpha", a->opt.alpha, "dt / T of the discrete dynamics (0.2 in the release)")->capture_default_str();
  cmd->add_option("--tol", a->opt.tol, "eigen-residual tolerance of every solve")->capture_default_str();
  cmd->add_option("--k", a->opt.k, "eigenvalues computed per solve")->capture_default_str();
  cmd->add_option("--transient-steps", a->opt.transient_max_steps,
                  "transient growth: max ||M^t||_2 of the linear model's step M = (1-alpha)I + alpha*W over t up to "
                  "this many steps (0: skip; areas whose linear regime grows are unbounded and skipped)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-steps", a->opt.max_steps, "time steps allowed to reach a fixed point")->capture_default_str();
  cmd->add_option("--fixed-point-tol", a->opt.fixed_point_tol, "fixed point reached when ||F(r) - r|| / max(1, ||r||) <= this")
      ->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "float64 or float32 (operator arithmetic)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float64", "float32"}));
  cmd->add_option("--device", a->device,
                  "cpu, cuda or cuda:N for the operators and eigensolves (CordsNet; needs a CUDA LibTorch)")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "write /stability (docs/results-format.md) to this HDF5 file");
  cmd->add_flag("--force", a->force, "overwrite an existing --out file");
  cmd->add_flag("--append", a->append, "add to an existing --out file of the same checkpoint (e.g. spectra, then stability)");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress messages on stderr");
  cmd->callback([a, ctx] {
    if (ctx.parse_only) throw CommandResult(0);
    ModelCache own;
    throw CommandResult(run_stability(*a, ctx.models ? *ctx.models : own));
  });
}

}  // namespace convdyn::apps
