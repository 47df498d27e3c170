#include "analysis/cordsnet_stability.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "analysis/detail/eigs.hpp"
#include "analysis/spectrum.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/symmetric_operators.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/cordsnet/fixed_point.hpp"
#include "model/cordsnet/jacobian.hpp"
#include "model/recurrent_layers.hpp"

namespace convdyn::analysis {

namespace {

using detail::max_abs;
using detail::max_real;
using detail::write_eigs;

void say(const StabilityOptions& opt, const std::string& s) {
  if (opt.progress) opt.progress(s);
}

linalg::EigOptions eig_options(const StabilityOptions& opt, linalg::Which which) {
  linalg::EigOptions e;
  e.k = opt.k;
  e.which = which;
  e.tol = opt.tol;
  e.max_restarts = opt.max_restarts;
  return e;
}
linalg::EigResult eigs(const linalg::LinearOperator& op, linalg::Which which, const StabilityOptions& opt,
                       const at::Tensor& start = {}, bool vectors = false, bool condition = false) {
  auto eo = eig_options(opt, which);
  eo.vectors = vectors;
  auto extras = opt.krylov_schur;
  if (start.defined()) extras.start = start;
  return condition ? detail::solve_eigs_with_condition(op, eo, extras) : detail::solve_eigs(op, eo, extras);
}

/// A start vector in the span of a result's eigenvectors: the real part of their sum (a conjugate pair adds up
/// to twice the real part of one), as a (n) float64 CPU tensor; undefined without vectors.
at::Tensor warm_start(const linalg::EigResult& r) {
  if (r.vectors.cols() == 0) return {};
  const Eigen::VectorXd v = r.vectors.rowwise().sum().real();
  if (!(v.norm() > 0.0) || !v.allFinite()) return {};
  return at::from_blob(const_cast<double*>(v.data()), {v.size()}, at::TensorOptions().dtype(at::kDouble)).clone();
}

/// One input of the network and its fixed point, with each area's ReLU mask there.
struct InputPoint {
  std::string name;
  at::Tensor drive;  // undefined for the zero image
  model::FixedPoint fp;
  std::vector<at::Tensor> masks;  // per area, (C, H, W)
};

/// Phase 1: the fixed point of the whole network for each input (the zero image first).
std::vector<InputPoint> find_fixed_points(const model::CordsNet& dyn, const at::Tensor& images,
                                          const StabilityOptions& opt) {
  std::vector<InputPoint> points{{"zero", at::Tensor(), {}, {}}};
  if (images.defined()) {
    dyn.check_image(images.sizes());
    for (std::int64_t i = 0; i < images.size(0); ++i)
      points.push_back({fmt::format("image {}", i), dyn.input_drive(images.narrow(0, i, 1).to(at::kDouble)), {}, {}});
  }
  model::FixedPointOptions fo;
  fo.alpha = opt.alpha;
  fo.max_steps = opt.max_steps;
  fo.tol = opt.fixed_point_tol;
  for (auto& p : points) {
    say(opt, fmt::format("[fixed point] {} ...", p.name));
    p.fp = model::find_fixed_point(dyn, p.drive, {}, fo);
    for (const auto& ul : dyn.preactivations(p.fp.state, p.drive)) p.masks.push_back(model::relu_mask(ul[0]));
  }
  return points;
}

/// Phase 2: the all-active linear model of one area: rightmost and largest eigenvalues of W, ||W||_2 and
/// the numerical abscissa.
void analyse_linear(const linalg::ConvOperator& w, const StabilityOptions& opt, AreaStability& a) {
  a.linear = eigs(w, linalg::Which::LR, opt, {}, false, opt.condition);
  a.abscissa = max_real(a.linear);
  a.margin = 1.0 - a.abscissa;
  a.abscissa_bound = opt.condition ? detail::bound_at_max_real(a.linear) : 0.0;
  a.largest = eigs(w, linalg::Which::LM, opt);
  a.spectral_radius = max_abs(a.largest);
  const linalg::GramOperator gram(w);
  const auto g = linalg::largest_symmetric_eigenvalue(gram, opt.tol, opt.max_restarts, opt.krylov_schur);
  a.norm2 = std::sqrt(std::max(0.0, g.value));
  a.norm2_residual = g.residual;
  a.norm2_converged = g.converged;
  const linalg::SymmetricPartOperator sym(w);
  const auto om = linalg::largest_symmetric_eigenvalue(sym, opt.tol, opt.max_restarts, opt.krylov_schur);
  a.numerical_abscissa = om.value;
  a.numerical_abscissa_residual = om.residual;
  a.numerical_abscissa_converged = om.converged;
  a.contraction = a.norm2_converged && a.norm2 < 1.0;
  a.transient_amplification = a.abscissa < 1.0 && a.numerical_abscissa >= 1.0;
}

/// A bound for compare_with_one: an unknown one (NaN: a clustered eigenvalue without a condition number) as 0,
/// i.e. the value alone decides; judge() says so in the reason.
double known_or_zero(double bound) { return std::isnan(bound) ? 0.0 : bound; }

/// Phase 2b: the transient growth of the linear model's discrete map, unless the linear regime certainly grows.
void analyse_transient(const model::RecurrentLayer& layer, const StabilityOptions& opt, AreaStability& a) {
  if (opt.transient_max_steps <= 0 || !a.linear.all_converged()) return;
  if (compare_with_one(a.abscissa, known_or_zero(a.abscissa_bound)) == Verdict::Unstable) return;
  const model::AreaJacobian m(layer.weight, layer.height, layer.width, at::Tensor(), model::JacobianKind::Discrete,
                              opt.alpha, opt.dtype, opt.device, opt.conv_backend);
  linalg::TransientGrowthOptions to;
  to.max_steps = opt.transient_max_steps;
  to.tol = opt.transient_tol;
  to.max_restarts = opt.max_restarts;
  to.extras = opt.krylov_schur;
  a.transient = linalg::transient_growth(m, to);
  a.transient_computed = true;
}

/// Phase 3: local stability of one area at one input's fixed point (D W and the discrete map).
FixedPointStability analyse_at(const model::RecurrentLayer& layer, const InputPoint& p, const at::Tensor& mask,
                               const StabilityOptions& opt) {
  FixedPointStability f;
  f.input = p.name;
  f.reached = p.fp.converged;
  f.status = p.fp.status;
  f.residual = p.fp.residual;
  f.steps = p.fp.steps;
  f.active_fraction = mask.to(at::kDouble).mean().item<double>();
  if (!f.reached) return f;
  const model::AreaJacobian dw(layer.weight, layer.height, layer.width, mask, model::JacobianKind::MaskedW, opt.alpha,
                               opt.dtype, opt.device, opt.conv_backend);
  f.masked = eigs(dw, linalg::Which::LR, opt, {}, /*vectors=*/true);
  f.masked_abscissa = max_real(f.masked);
  const model::AreaJacobian disc(layer.weight, layer.height, layer.width, mask, model::JacobianKind::Discrete,
                                 opt.alpha, opt.dtype, opt.device, opt.conv_backend);
  // (1 - a) I + a D W has the eigenvectors of D W: its solve starts from D W's rightmost Ritz vectors.
  f.discrete = eigs(disc, linalg::Which::LM, opt, warm_start(f.masked), false, opt.condition);
  f.masked.vectors.resize(0, 0);
  f.spectral_radius = max_abs(f.discrete);
  f.spectral_radius_bound = opt.condition ? detail::bound_at_max_abs(f.discrete) : 0.0;
  if (f.discrete.all_converged()) f.verdict = compare_with_one(f.spectral_radius, known_or_zero(f.spectral_radius_bound));
  return f;
}

/// Phase 4: the area's verdict from its linear model and its fixed points (the rule of analyse_stability).
void judge(AreaStability& a) {
  const bool linear_ok = a.linear.all_converged();
  const Verdict linear = linear_ok ? compare_with_one(a.abscissa, known_or_zero(a.abscissa_bound)) : Verdict::Undecided;
  bool unbounded = linear_ok && std::isnan(a.abscissa_bound);
  bool any_unstable = linear == Verdict::Unstable, all_stable = linear == Verdict::Stable;
  std::string why = any_unstable ? fmt::format("max Re lambda(W) = {:.6f} >= 1", a.abscissa) : "";
  // Why a converged answer is not a verdict: its margin is within the eigenvalue's error bound.
  std::string within;
  if (linear_ok && linear == Verdict::Undecided)
    within = fmt::format("margin {:.1e} of max Re lambda(W) = {:.9f} is within the eigenvalue error bound {:.1e}",
                         a.margin, a.abscissa, a.abscissa_bound);
  bool fixed_points_stable = true;
  a.levels.global = a.contraction ? Verdict::Stable : Verdict::Undecided;
  a.levels.linear = linear;
  a.levels.fixed_points = combine_verdicts(a.fixed_points, [](const FixedPointStability& f) { return f.verdict; });
  for (const auto& f : a.fixed_points) {
    if (f.verdict == Verdict::Unstable) {
      any_unstable = true;
      if (why.empty()) why = fmt::format("spectral radius {:.6f} >= 1 at the fixed point of {}", f.spectral_radius, f.input);
    }
    if (f.verdict != Verdict::Stable) all_stable = fixed_points_stable = false;
    if (f.reached && f.discrete.all_converged() && std::isnan(f.spectral_radius_bound)) unbounded = true;
    if (within.empty() && f.reached && f.discrete.all_converged() && f.verdict == Verdict::Undecided)
      within = fmt::format("at the fixed point of {}, margin {:.1e} of the spectral radius {:.9f} is within the "
                           "eigenvalue error bound {:.1e}", f.input, 1.0 - f.spectral_radius, f.spectral_radius,
                           f.spectral_radius_bound);
  }
  if (any_unstable) {
    a.verdict = Verdict::Unstable;
    a.reason = why;
    if (fixed_points_stable)
      a.reason += fmt::format(" (the linear model grows; locally stable at all {} analysed fixed points)",
                              a.fixed_points.size());
  } else if (a.contraction) {
    a.verdict = Verdict::Stable;
    a.reason = fmt::format("contraction: ||W||_2 = {:.6f} < 1 (stable for every input)", a.norm2);
  } else if (all_stable) {
    a.verdict = Verdict::Stable;
    a.reason = fmt::format("max Re lambda(W) = {:.6f} < 1 and locally stable at all {} fixed points", a.abscissa,
                           a.fixed_points.size());
  } else {
    a.verdict = Verdict::Undecided;
    unbounded = false;
    a.reason = !linear_ok       ? std::string("the spectrum of W did not converge")
               : !within.empty() ? within
                                 : std::string("a fixed point was not reached or a solve did not converge");
  }
  if (unbounded)
    a.reason += "; an eigenvalue in a cluster has no error bound (no unique left eigenvector) and is judged by its "
                "value";
}

}  // namespace

StabilityReport analyse_stability(const model::Checkpoint& ckpt, const model::Network& net, const at::Tensor& images,
                                  const StabilityOptions& opt) {
  CONVDYN_CHECK(opt.alpha > 0 && opt.alpha <= 1, ValueError, "--alpha {} must be in (0, 1]", opt.alpha);
  linalg::configure_numerics(opt.device);
  StabilityReport rep;
  rep.alpha = opt.alpha;
  rep.transient_max_steps = opt.transient_max_steps;
  const model::CordsNet dyn(ckpt, at::kDouble, c10::Device(c10::DeviceType::CPU));
  const auto points = find_fixed_points(dyn, images, opt);
  for (const auto& p : points) rep.inputs.push_back(p.name);

  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    AreaStability a;
    a.layer = layer_info(layer, linalg::Padding::Zero, opt.dtype, opt.device);
    say(opt, fmt::format("[{}] n={}: spectrum of W, ||W||_2, numerical abscissa ...", layer.name, layer.n()));
    const linalg::ConvOperator w(layer.weight, layer.height, layer.width, linalg::Padding::Zero, opt.dtype, opt.device,
                                 opt.conv_backend);
    analyse_linear(w, opt, a);
    analyse_transient(layer, opt, a);
    for (const auto& p : points) a.fixed_points.push_back(analyse_at(layer, p, p.masks[l], opt));
    judge(a);
    rep.areas.push_back(std::move(a));
  }
  rep.verdict = combine_verdicts(rep.areas, [](const AreaStability& a) { return a.verdict; });
  rep.levels.global = combine_verdicts(rep.areas, [](const AreaStability& a) { return a.levels.global; });
  rep.levels.linear = combine_verdicts(rep.areas, [](const AreaStability& a) { return a.levels.linear; });
  rep.levels.fixed_points = combine_verdicts(rep.areas, [](const AreaStability& a) { return a.levels.fixed_points; });
  return rep;
}

namespace {
void write_levels(ResultsGroup& g, const VerdictLevels& v) {
  g.attr("verdict_global", to_string(v.global));
  g.attr("verdict_linear", to_string(v.linear));
  g.attr("verdict_fixed_points", to_string(v.fixed_points));
}
}  // namespace

void write_stability(ResultsWriter& out, const StabilityReport& rep) {
  auto root = out.group("stability");
  root.attr("verdict", to_string(rep.verdict));
  write_levels(root, rep.levels);
  root.attr("alpha", rep.alpha);
  root.attr("transient_max_steps", static_cast<long long>(rep.transient_max_steps));
  std::string inputs;
  for (const auto& s : rep.inputs) inputs += (inputs.empty() ? "" : ";") + s;
  root.attr("inputs", inputs);
  for (const auto& a : rep.areas) {
    auto g = root.group(a.layer.name);
    g.attr("verdict", to_string(a.verdict));
    write_levels(g, a.levels);
    g.attr("reason", a.reason);
    g.attr("n", static_cast<long long>(a.layer.n));
    g.attr("abscissa", a.abscissa);
    g.attr("margin", a.margin);
    g.attr("abscissa_error_bound", a.abscissa_bound);
    g.attr("spectral_radius", a.spectral_radius);
    g.attr("norm2", a.norm2);
    g.attr("norm2_residual", a.norm2_residual);
    g.attr("norm2_converged", a.norm2_converged);
    g.attr("numerical_abscissa", a.numerical_abscissa);
    g.attr("numerical_abscissa_residual", a.numerical_abscissa_residual);
    g.attr("numerical_abscissa_converged", a.numerical_abscissa_converged);
    g.attr("norm_over_radius", a.spectral_radius > 0 ? a.norm2 / a.spectral_radius : INFINITY);
    g.attr("contraction", a.contraction);
    g.attr("transient_amplification", a.transient_amplification);
    if (a.transient_computed) {
      auto tg = g.group("transient_growth");
      tg.attr("peak", a.transient.peak);
      tg.attr("peak_step", static_cast<long long>(a.transient.peak_step));
      tg.attr("peak_time", static_cast<double>(a.transient.peak_step) * rep.alpha);
      tg.attr("peak_at_limit", a.transient.peak_at_limit);
      tg.attr("converged", a.transient.converged);
      tg.attr("matvecs", static_cast<long long>(a.transient.matvecs));
      Eigen::VectorXd steps(static_cast<Eigen::Index>(a.transient.steps.size()));
      for (std::size_t i = 0; i < a.transient.steps.size(); ++i) steps(static_cast<Eigen::Index>(i)) = static_cast<double>(a.transient.steps[i]);
      tg.dataset("steps", steps);
      tg.dataset("norms", Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(a.transient.norms.data(), static_cast<Eigen::Index>(a.transient.norms.size()))));
    }
    write_eigs(g, "linear", a.linear);
    write_eigs(g, "largest", a.largest);
    for (std::size_t i = 0; i < a.fixed_points.size(); ++i) {
      const auto& f = a.fixed_points[i];
      auto fg = g.group("inputs").group(std::to_string(i));
      fg.attr("input", f.input);
      fg.attr("reached", f.reached);
      fg.attr("status", f.status);
      fg.attr("fixed_point_residual", f.residual);
      fg.attr("steps", static_cast<long long>(f.steps));
      fg.attr("active_fraction", f.active_fraction);
      fg.attr("verdict", to_string(f.verdict));
      if (f.reached) {
        fg.attr("masked_abscissa", f.masked_abscissa);
        fg.attr("spectral_radius", f.spectral_radius);
        fg.attr("spectral_radius_error_bound", f.spectral_radius_bound);
        write_eigs(fg, "masked", f.masked);
        write_eigs(fg, "discrete", f.discrete);
      }
    }
  }
}

}  // namespace convdyn::analysis
