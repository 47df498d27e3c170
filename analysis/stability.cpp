#include "analysis/stability.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "analysis/detail/eigs.hpp"
#include "analysis/spectrum.hpp"
#include "linalg/conv_operator.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/krylov_schur.hpp"
#include "linalg/symmetric_operators.hpp"
#include "model/cordsnet.hpp"
#include "model/fixed_point.hpp"
#include "model/jacobian.hpp"
#include "model/network.hpp"

namespace convdyn::analysis {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::Stable: return "STABLE";
    case Verdict::Unstable: return "UNSTABLE";
    case Verdict::Undecided: return "UNDECIDED";
  }
  return "?";
}

namespace {

linalg::EigResult eigs(const linalg::LinearOperator& op, linalg::Which which, const StabilityOptions& opt) {
  return detail::solve_eigs(op, which, opt.k, opt.tol, opt.max_restarts);
}
using detail::max_abs;
using detail::max_real;
using detail::write_eigs;

void say(const StabilityOptions& opt, const std::string& s) {
  if (opt.progress) opt.progress(s);
}

c10::ScalarType dtype_of(const std::string& s) {
  if (s == "float64") return at::kDouble;
  if (s == "float32") return at::kFloat;
  throw ValueError(fmt::format("unknown dtype '{}' (expected float64 or float32)", s));
}

}  // namespace

StabilityReport analyse_stability(const model::Checkpoint& ckpt, const model::Network& net, const at::Tensor& images,
                                  const StabilityOptions& opt) {
  CONVDYN_CHECK(opt.alpha > 0 && opt.alpha <= 1, ValueError, "--alpha {} must be in (0, 1]", opt.alpha);
  const auto dtype = dtype_of(opt.dtype);
  const c10::Device cpu(c10::DeviceType::CPU);
  const c10::Device dev = linalg::parse_device(opt.device);
  StabilityReport rep;
  rep.alpha = opt.alpha;

  // Fixed points of the whole network, one per input (the zero image first).
  model::CordsNet dyn(ckpt, at::kDouble, cpu);
  struct Drive {
    std::string name;
    at::Tensor inp;
  };
  std::vector<Drive> drives{{"zero", at::Tensor()}};
  if (images.defined()) {
    dyn.check_image(images.sizes());
    for (std::int64_t i = 0; i < images.size(0); ++i)
      drives.push_back({fmt::format("image {}", i), dyn.input_drive(images.narrow(0, i, 1).to(at::kDouble))});
  }
  struct Reached {
    model::FixedPoint fp;
    std::vector<at::Tensor> masks;  // per area, (C, H, W)
  };
  std::vector<Reached> reached;
  for (const auto& d : drives) {
    rep.inputs.push_back(d.name);
    say(opt, fmt::format("[fixed point] {} ...", d.name));
    model::FixedPointOptions fo;
    fo.alpha = opt.alpha;
    fo.max_steps = opt.max_steps;
    fo.tol = opt.fixed_point_tol;
    Reached r{model::find_fixed_point(dyn, d.inp, {}, fo), {}};
    const auto u = dyn.preactivations(r.fp.state, d.inp);
    for (const auto& ul : u) r.masks.push_back(model::relu_mask(ul[0]));
    reached.push_back(std::move(r));
  }

  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    AreaStability a;
    a.layer = layer_info(layer, "zero", opt.dtype, dev.str());
    say(opt, fmt::format("[{}] n={}: spectrum of W, ||W||_2, numerical abscissa ...", layer.name, layer.n()));
    linalg::ConvOperator w(layer.weight, layer.height, layer.width, linalg::Padding::Zero, dtype, dev);
    a.linear = eigs(w, linalg::Which::LR, opt);
    a.abscissa = max_real(a.linear);
    a.margin = 1.0 - a.abscissa;
    a.largest = eigs(w, linalg::Which::LM, opt);
    a.spectral_radius = max_abs(a.largest);
    linalg::GramOperator gram(w);
    const auto g = linalg::largest_symmetric_eigenvalue(gram, opt.tol, opt.max_restarts);
    a.norm2 = std::sqrt(std::max(0.0, g.value));
    a.norm2_residual = g.residual;
    a.norm2_converged = g.converged;
    linalg::SymmetricPartOperator sym(w);
    const auto om = linalg::largest_symmetric_eigenvalue(sym, opt.tol, opt.max_restarts);
    a.numerical_abscissa = om.value;
    a.numerical_abscissa_residual = om.residual;
    a.numerical_abscissa_converged = om.converged;
    a.contraction = a.norm2_converged && a.norm2 < 1.0;
    a.transient_amplification = a.abscissa < 1.0 && a.numerical_abscissa >= 1.0;
    const bool linear_ok = a.linear.all_converged();

    bool any_unstable = linear_ok && a.abscissa >= 1.0, all_stable = linear_ok && a.abscissa < 1.0;
    std::string why = any_unstable ? fmt::format("max Re lambda(W) = {:.6f} >= 1", a.abscissa) : "";
    for (std::size_t i = 0; i < drives.size(); ++i) {
      const auto& r = reached[i];
      FixedPointStability f;
      f.input = drives[i].name;
      f.reached = r.fp.converged;
      f.status = r.fp.status;
      f.residual = r.fp.residual;
      f.steps = r.fp.steps;
      const auto& mask = r.masks[l];
      f.active_fraction = mask.to(at::kDouble).mean().item<double>();
      if (f.reached) {
        model::AreaJacobian dw(layer.weight, layer.height, layer.width, mask, model::JacobianKind::MaskedW,
                               opt.alpha, dtype, dev);
        f.masked = eigs(dw, linalg::Which::LR, opt);
        f.masked_abscissa = max_real(f.masked);
        model::AreaJacobian disc(layer.weight, layer.height, layer.width, mask, model::JacobianKind::Discrete,
                                 opt.alpha, dtype, dev);
        f.discrete = eigs(disc, linalg::Which::LM, opt);
        f.spectral_radius = max_abs(f.discrete);
        if (!f.discrete.all_converged()) {
          f.verdict = Verdict::Undecided;
        } else {
          f.verdict = f.spectral_radius < 1.0 ? Verdict::Stable : Verdict::Unstable;
        }
      }
      if (f.verdict == Verdict::Unstable) {
        any_unstable = true;
        if (why.empty()) why = fmt::format("spectral radius {:.6f} >= 1 at the fixed point of {}", f.spectral_radius, f.input);
      }
      if (f.verdict != Verdict::Stable) all_stable = false;
      a.fixed_points.push_back(std::move(f));
    }
    if (any_unstable) {
      a.verdict = Verdict::Unstable;
      a.reason = why;
      bool fixed_points_stable = true;
      for (const auto& f : a.fixed_points) fixed_points_stable = fixed_points_stable && f.verdict == Verdict::Stable;
      if (fixed_points_stable)
        a.reason += fmt::format(" (the linear model grows; locally stable at all {} analysed fixed points)",
                                a.fixed_points.size());
    } else if (a.contraction) {
      a.verdict = Verdict::Stable;
      a.reason = fmt::format("contraction: ||W||_2 = {:.6f} < 1 (stable for every input)", a.norm2);
    } else if (all_stable) {
      a.verdict = Verdict::Stable;
      a.reason = fmt::format("max Re lambda(W) = {:.6f} < 1 and locally stable at all {} fixed points", a.abscissa,
                             drives.size());
    } else {
      a.verdict = Verdict::Undecided;
      a.reason = !linear_ok ? "the spectrum of W did not converge"
                            : "a fixed point was not reached or a solve did not converge";
    }
    rep.areas.push_back(std::move(a));
  }
  rep.verdict = combine_verdicts(rep.areas, [](const AreaStability& a) { return a.verdict; });
  return rep;
}

void write_stability(ResultsWriter& out, const StabilityReport& rep) {
  auto root = out.group("stability");
  root.attr("verdict", to_string(rep.verdict));
  root.attr("alpha", rep.alpha);
  std::string inputs;
  for (const auto& s : rep.inputs) inputs += (inputs.empty() ? "" : ";") + s;
  root.attr("inputs", inputs);
  for (const auto& a : rep.areas) {
    auto g = root.group(a.layer.name);
    g.attr("verdict", to_string(a.verdict));
    g.attr("reason", a.reason);
    g.attr("n", static_cast<long long>(a.layer.n));
    g.attr("abscissa", a.abscissa);
    g.attr("margin", a.margin);
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
        write_eigs(fg, "masked", f.masked);
        write_eigs(fg, "discrete", f.discrete);
      }
    }
  }
}

}  // namespace convdyn::analysis
