#include "analysis/convrnn_stability.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

#include "analysis/detail/eigs.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/symmetric_operators.hpp"
#include "model/convrnn/network_jacobian.hpp"

namespace convdyn::analysis {

namespace {
void say(const ConvRNNStabilityOptions& opt, const std::string& s) {
  if (opt.progress) opt.progress(s);
}

/// The verdict of a discrete map at its fixed point from its Jacobian `op`: rho(J) with its error bound, ||J||_2.
void judge_at_fixed_point(CellStability& c, const linalg::LinearOperator& op, const ConvRNNStabilityOptions& opt,
                          const std::string& drive) {
  const auto& t = c.target;
  say(opt, fmt::format("[{}] largest eigenvalues of the Jacobian (n={}) ...", t.name, t.n()));
  linalg::EigOptions eo;
  eo.k = opt.k;
  eo.which = linalg::Which::LM;
  eo.tol = opt.tol;
  eo.max_restarts = opt.max_restarts;
  c.largest = opt.condition ? detail::solve_eigs_with_condition(op, eo, opt.krylov_schur)
                            : detail::solve_eigs(op, eo, opt.krylov_schur);
  c.spectral_radius = detail::max_abs(c.largest);
  c.margin = 1.0 - c.spectral_radius;
  c.spectral_radius_bound = opt.condition ? detail::bound_at_max_abs(c.largest) : 0.0;
  linalg::GramOperator gram(op);
  const auto g = linalg::largest_symmetric_eigenvalue(gram, opt.tol, opt.max_restarts, opt.krylov_schur);
  c.norm2 = std::sqrt(std::max(0.0, g.value));
  c.norm2_converged = g.converged;
  c.contraction = c.norm2_converged && c.norm2 < 1.0;
  const bool unbounded = std::isnan(c.spectral_radius_bound);
  if (!c.largest.all_converged()) {
    c.verdict = Verdict::Undecided;
    c.reason = fmt::format("the eigensolve did not converge ({}): rho(J) ~ {:.6f} is not certified",
                           linalg::to_string(c.largest.reason), c.spectral_radius);
  } else {
    c.verdict = compare_with_one(c.spectral_radius, unbounded ? 0.0 : c.spectral_radius_bound);
    if (c.verdict == Verdict::Stable)
      c.reason = fmt::format("rho(J) = {:.6f} < 1 at the fixed point (drive {}): locally stable, margin {:.4f}",
                             c.spectral_radius, drive, c.margin);
    else if (c.verdict == Verdict::Unstable)
      c.reason = fmt::format("rho(J) = {:.6f} >= 1 at the fixed point (drive {}): not locally stable",
                             c.spectral_radius, drive);
    else
      c.reason = fmt::format("margin {:.1e} of rho(J) = {:.9f} is within the eigenvalue error bound {:.1e}",
                             c.margin, c.spectral_radius, c.spectral_radius_bound);
    if (unbounded)
      c.reason += "; the eigenvalue is in a cluster and has no error bound (no unique left eigenvector): "
                  "judged by its value";
  }
}

}  // namespace

ConvRNNStabilityReport analyse_convrnn_stability(const model::ConvRNNModel& zoo, const ConvRNNStabilityOptions& opt) {
  ConvRNNStabilityReport rep;
  rep.family = zoo.family;
  rep.drive = opt.point.drive_name;
  for (const auto& t : convrnn_targets(zoo)) {
    if (!t.part.empty()) continue;
    const auto& L = zoo.layer(t.layer);
    CellStability c;
    c.target = t;
    c.cell = model::to_string(L.type);
    say(opt, fmt::format("[{}] {} cell: fixed point ...", t.name, c.cell));
    auto built = build_convrnn_operator(zoo, t, opt.point, L.cell.options().dtype, L.cell.options().device);
    c.fixed_point = built.fixed_point;
    if (built.scalar) {
      // J = m I: nothing to solve; the map is affine and its fixed point is unique when |m| != 1.
      c.spectral_radius = std::abs(*built.scalar);
      c.norm2 = c.spectral_radius;
      c.norm2_converged = true;
      c.contraction = c.norm2 < 1.0;
      c.margin = 1.0 - c.spectral_radius;
      c.spectral_radius_bound = 0.0;  // exact: no eigensolve
      c.verdict = c.spectral_radius < 1.0 ? Verdict::Stable : Verdict::Unstable;
      c.reason = fmt::format("timedecay: J = m I with m = {:.6g}, so rho = |m| = {:.6g} {} 1 (no eigensolve needed)",
                             *built.scalar, c.spectral_radius, c.spectral_radius < 1.0 ? "<" : ">=");
      rep.layers.push_back(std::move(c));
      continue;
    }
    if (!c.fixed_point.converged) {
      c.verdict = Verdict::Undecided;
      c.reason = fmt::format("no fixed point reached under drive {} ({} after {} steps, residual {:.2e})", rep.drive,
                             c.fixed_point.status, c.fixed_point.steps, c.fixed_point.residual);
      rep.layers.push_back(std::move(c));
      continue;
    }
    judge_at_fixed_point(c, *built.op, opt, rep.drive);
    rep.layers.push_back(std::move(c));
  }
  rep.verdict = combine_verdicts(rep.layers, [](const CellStability& c) { return c.verdict; });
  return rep;
}

ConvRNNStabilityReport analyse_zoo_network_stability(const model::ConvRNNNetwork& net, const at::Tensor& image,
                                                     const std::string& image_name,
                                                     const ConvRNNStabilityOptions& opt) {
  ConvRNNStabilityReport rep;
  rep.family = net.family();
  rep.drive = image_name;
  CellStability c;
  c.target.name = c.target.layer = "network";
  c.target.role = "the whole network's state map";
  c.target.channels = net.state_size();
  c.target.height = c.target.width = 1;
  c.cell = "network";
  say(opt, fmt::format("[network] fixed point of the state map (n={}) ...", net.state_size()));
  const auto fp = model::find_zoo_fixed_point(net, image, opt.point.fixed_point);
  c.fixed_point.state = fp.z;
  c.fixed_point.residual = fp.residual;
  c.fixed_point.steps = fp.steps;
  c.fixed_point.converged = fp.converged;
  c.fixed_point.status = fp.status;
  if (!fp.converged) {
    c.verdict = Verdict::Undecided;
    c.reason = fmt::format("no fixed point reached under {} ({} after {} steps, residual {:.2e})", image_name,
                           fp.status, fp.steps, fp.residual);
  } else {
    const model::ZooNetworkJacobian J(net, image, fp.z);
    judge_at_fixed_point(c, J, opt, image_name);
  }
  rep.layers.push_back(std::move(c));
  rep.verdict = rep.layers.front().verdict;
  return rep;
}

void write_convrnn_stability(ResultsWriter& out, const ConvRNNStabilityReport& rep) {
  auto root = out.group("stability");
  root.attr("verdict", to_string(rep.verdict));
  root.attr("model", "convrnn");
  root.attr("family", rep.family);
  root.attr("inputs", rep.drive);
  for (const auto& c : rep.layers) {
    auto g = root.group(c.target.name);
    g.attr("verdict", to_string(c.verdict));
    g.attr("reason", c.reason);
    g.attr("cell", c.cell);
    g.attr("n", static_cast<long long>(c.target.n()));
    g.attr("spectral_radius", c.spectral_radius);
    g.attr("margin", c.margin);
    g.attr("spectral_radius_error_bound", c.spectral_radius_bound);
    g.attr("norm2", c.norm2);
    g.attr("norm2_converged", c.norm2_converged);
    g.attr("contraction", c.contraction);
    g.attr("fixed_point_status", c.fixed_point.status);
    g.attr("fixed_point_residual", c.fixed_point.residual);
    g.attr("fixed_point_steps", static_cast<long long>(c.fixed_point.steps));
    if (c.largest.size() > 0) detail::write_eigs(g, "largest", c.largest);
  }
}

}  // namespace convdyn::analysis
