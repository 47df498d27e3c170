#include "analysis/convrnn_operators.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "linalg/error.hpp"
#include "linalg/operators/same_conv_operator.hpp"
#include "linalg/scalar_type.hpp"

namespace convdyn::analysis {

namespace {
bool is_rgc(model::CellType t) { return t == model::CellType::RGCShallow || t == model::CellType::RGCIntermediate; }

std::string fixed_point_text(const model::CellFixedPoint& fp, const std::string& drive) {
  if (fp.converged)
    return fmt::format("at its fixed point (drive {}, residual {:.1e}, {} steps)", drive, fp.residual, fp.steps);
  return fmt::format("at the last state: NO fixed point ({} after {} steps, residual {:.1e}, drive {})", fp.status,
                     fp.steps, fp.residual, drive);
}
}  // namespace

std::vector<ConvRNNTarget> convrnn_targets(const model::ConvRNNModel& zoo) {
  std::vector<ConvRNNTarget> out;
  for (const auto& L : zoo.layers) {
    ConvRNNTarget j;
    j.name = j.layer = L.name;
    j.channels = j.out_channels = L.cell.state_channels();
    j.height = L.height;
    j.width = L.width;
    const auto ks = L.cell.kernel_sizes();
    j.kernel = ks.empty() ? 0 : *std::max_element(ks.begin(), ks.end());
    j.role = fmt::format("{} cell state Jacobian ds'/ds, state {}", model::to_string(L.type), L.cell.state_layout());
    out.push_back(j);
    for (const auto& p : L.cell.linear_parts()) {
      ConvRNNTarget t;
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

const ConvRNNTarget& find_convrnn_target(const std::vector<ConvRNNTarget>& targets, const std::string& name,
                                 const std::string& path) {
  for (const auto& t : targets)
    if (t.name == name) return t;
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.name);
  throw ValueError(fmt::format("{}: no operator '{}' (available: {})", path, name, fmt::join(names, ", ")));
}

ConvRNNOperator build_convrnn_operator(const model::ConvRNNModel& zoo, const ConvRNNTarget& t, const ConvRNNPoint& point,
                               c10::ScalarType dtype, c10::Device device) {
  const auto& L = zoo.layer(t.layer);
  ConvRNNOperator out;
  out.info.name = t.name;
  out.info.n = t.n();
  out.info.channels = t.channels;
  out.info.height = t.height;
  out.info.width = t.width;
  out.info.kernel = t.kernel;
  out.info.padding = "same";
  out.info.dtype = linalg::scalar_type_name(dtype);
  out.info.device = device.str();
  if (!t.part.empty()) {
    CONVDYN_CHECK(t.square, ValueError,
                  "{}: '{}' maps {} channels to {} ({}): not a square operator, it has no spectrum", zoo.path, t.name,
                  t.channels, t.out_channels, t.role);
    for (const auto& p : L.cell.linear_parts()) {
      if (p.name != t.part) continue;
      out.op = std::make_unique<linalg::SameConvOperator>(p.weight, L.height, L.width, t.name, dtype, device);
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

}  // namespace convdyn::analysis
