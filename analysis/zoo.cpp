#include "analysis/zoo.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "analysis/detail/eigs.hpp"
#include "linalg/error.hpp"
#include "linalg/symmetric_operators.hpp"
#include "model/same_conv_operator.hpp"

namespace convdyn::analysis {

namespace {
bool is_rgc(model::CellType t) { return t == model::CellType::RGCShallow || t == model::CellType::RGCIntermediate; }

std::string fixed_point_text(const model::CellFixedPoint& fp, const std::string& drive) {
  if (fp.converged)
    return fmt::format("at its fixed point (drive {}, residual {:.1e}, {} steps)", drive, fp.residual, fp.steps);
  return fmt::format("at the last state: NO fixed point ({} after {} steps, residual {:.1e}, drive {})", fp.status,
                     fp.steps, fp.residual, drive);
}

void say(const ZooStabilityOptions& opt, const std::string& s) {
  if (opt.progress) opt.progress(s);
}
}  // namespace

std::vector<ZooTarget> zoo_targets(const model::ZooModel& zoo) {
  std::vector<ZooTarget> out;
  for (const auto& L : zoo.layers) {
    ZooTarget j;
    j.name = j.layer = L.name;
    j.channels = j.out_channels = L.cell.state_channels();
    j.height = L.height;
    j.width = L.width;
    const auto ks = L.cell.kernel_sizes();
    j.kernel = ks.empty() ? 0 : *std::max_element(ks.begin(), ks.end());
    j.role = fmt::format("{} cell state Jacobian ds'/ds, state {}", model::to_string(L.type), L.cell.state_layout());
    out.push_back(j);
    for (const auto& p : L.cell.linear_parts()) {
      ZooTarget t;
      t.name = L.name + "/" + p.name;
      t.layer = L.name;
      t.part = p.name;
      t.role = p.role;
      t.square = p.square();
      t.channels = p.weight.size(1);
      t.out_channels = p.weight.size(0);
      t.height = L.height;
      t.width = L.width;
      t.kernel = p.weight.size(2);
      out.push_back(t);
    }
  }
  return out;
}

const ZooTarget& find_zoo_target(const std::vector<ZooTarget>& targets, const std::string& name,
                                 const std::string& path) {
  for (const auto& t : targets)
    if (t.name == name) return t;
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.name);
  throw ValueError(fmt::format("{}: no operator '{}' (available: {})", path, name, fmt::join(names, ", ")));
}

ZooOperator build_zoo_operator(const model::ZooModel& zoo, const ZooTarget& t, const ZooPointOptions& point,
                               c10::ScalarType dtype, c10::Device device) {
  const auto& L = zoo.layer(t.layer);
  ZooOperator out;
  out.info.name = t.name;
  out.info.n = t.n();
  out.info.channels = t.channels;
  out.info.height = t.height;
  out.info.width = t.width;
  out.info.kernel = t.kernel;
  out.info.padding = "same";
  out.info.dtype = dtype == at::kFloat ? "float32" : "float64";
  out.info.device = device.str();
  if (!t.part.empty()) {
    CONVDYN_CHECK(t.square, ValueError,
                  "{}: '{}' maps {} channels to {} ({}): not a square operator, it has no spectrum", zoo.path, t.name,
                  t.channels, t.out_channels, t.role);
    for (const auto& p : L.cell.linear_parts()) {
      if (p.name != t.part) continue;
      out.op = std::make_unique<model::SameConvOperator>(p.weight, L.height, L.width, t.name, dtype, device);
      out.info.parametrisation = fmt::format("linear part of the {} cell: {}", model::to_string(L.type), p.role);
      return out;
    }
    throw InternalError(fmt::format("zoo target '{}' has no linear part", t.name));
  }
  CONVDYN_CHECK(dtype == L.cell.options().dtype && device == L.cell.options().device, ValueError,
                "{}: the cell Jacobian of '{}' runs in the dtype and device the cells were loaded with", zoo.path,
                t.name);
  const auto opts = at::TensorOptions().dtype(L.cell.options().dtype).device(L.cell.options().device);
  at::Tensor x;
  if (point.drive.defined()) {
    const std::vector<std::int64_t> want{1, L.cell.input_channels(), L.height, L.width};
    CONVDYN_CHECK(point.drive.numel() == L.cell.input_channels() * L.height * L.width &&
                      (point.drive.dim() == 3 || (point.drive.dim() == 4 && point.drive.size(0) == 1)),
                  ValueError, "{}: drive of shape [{}] does not fit layer {} (x is [{}, {}, {}] there)",
                  point.drive_name, fmt::join(point.drive.sizes(), ", "), t.layer, L.cell.input_channels(), L.height,
                  L.width);
    x = point.drive.reshape(want).to(opts);
    CONVDYN_CHECK(at::isfinite(x).all().item<bool>(), ValueError, "{}: drive holds NaN or Inf", point.drive_name);
    if (is_rgc(L.type)) x = at::elu(x);  // rgc's input activation (x = elu(pre conv))
  } else {
    x = at::zeros({1, L.cell.input_channels(), L.height, L.width}, opts);
  }
  out.has_fixed_point = true;
  out.fixed_point = model::find_cell_fixed_point(L.cell, x, {}, point.fixed_point);
  auto jac = std::make_unique<model::CellJacobian>(L.cell, x, out.fixed_point.state);
  out.scalar = jac->scalar_multiple();
  out.info.parametrisation =
      fmt::format("{} cell state Jacobian {}", model::to_string(L.type), fixed_point_text(out.fixed_point, point.drive_name));
  out.op = std::move(jac);
  return out;
}

ZooStabilityReport analyse_zoo_stability(const model::ZooModel& zoo, const ZooStabilityOptions& opt) {
  ZooStabilityReport rep;
  rep.family = zoo.family;
  rep.drive = opt.point.drive_name;
  for (const auto& t : zoo_targets(zoo)) {
    if (!t.part.empty()) continue;
    const auto& L = zoo.layer(t.layer);
    CellStability c;
    c.target = t;
    c.cell = model::to_string(L.type);
    say(opt, fmt::format("[{}] {} cell: fixed point ...", t.name, c.cell));
    auto built = build_zoo_operator(zoo, t, opt.point, L.cell.options().dtype, L.cell.options().device);
    c.fixed_point = built.fixed_point;
    if (built.scalar) {
      // J = m I: nothing to solve; the map is affine and its fixed point is unique when |m| != 1.
      c.spectral_radius = std::abs(*built.scalar);
      c.norm2 = c.spectral_radius;
      c.norm2_converged = true;
      c.contraction = c.norm2 < 1.0;
      c.margin = 1.0 - c.spectral_radius;
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
    say(opt, fmt::format("[{}] largest eigenvalues of the Jacobian (n={}) ...", t.name, t.n()));
    c.largest = detail::solve_eigs(*built.op, linalg::Which::LM, opt.k, opt.tol, opt.max_restarts);
    c.spectral_radius = detail::max_abs(c.largest);
    c.margin = 1.0 - c.spectral_radius;
    linalg::GramOperator gram(*built.op);
    const auto g = linalg::largest_symmetric_eigenvalue(gram, opt.tol, opt.max_restarts);
    c.norm2 = std::sqrt(std::max(0.0, g.value));
    c.norm2_converged = g.converged;
    c.contraction = c.norm2_converged && c.norm2 < 1.0;
    if (!c.largest.all_converged()) {
      c.verdict = Verdict::Undecided;
      c.reason = fmt::format("the eigensolve did not converge ({}): rho(J) ~ {:.6f} is not certified",
                             linalg::to_string(c.largest.reason), c.spectral_radius);
    } else if (c.spectral_radius < 1.0) {
      c.verdict = Verdict::Stable;
      c.reason = fmt::format("rho(J) = {:.6f} < 1 at the fixed point (drive {}): locally stable, margin {:.4f}",
                             c.spectral_radius, rep.drive, c.margin);
    } else {
      c.verdict = Verdict::Unstable;
      c.reason = fmt::format("rho(J) = {:.6f} >= 1 at the fixed point (drive {}): not locally stable",
                             c.spectral_radius, rep.drive);
    }
    rep.layers.push_back(std::move(c));
  }
  rep.verdict = combine_verdicts(rep.layers, [](const CellStability& c) { return c.verdict; });
  return rep;
}

void write_zoo_stability(ResultsWriter& out, const ZooStabilityReport& rep) {
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
