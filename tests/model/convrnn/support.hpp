// The ConvRNN zoo cases the model tests share: cells built from tests/fixtures/convrnn_expected.pth (the numpy
// reference of tests/fixtures/convrnn_reference.py) and in-memory zoo checkpoints made of them.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fixture_path.hpp"
#include "model/convrnn/cell.hpp"
#include "model/convrnn/cell_jacobian.hpp"
#include "model/convrnn/model.hpp"
#include "model/io/checkpoint.hpp"

namespace convdyn::tests {

using namespace convdyn::model;

inline const Checkpoint& expected() {
  static const Checkpoint c = load_checkpoint(testing::fixture("convrnn_expected.pth"));
  return c;
}

inline const std::vector<std::string> kCases = {"timedecay",       "simplernn",       "simplernn_ln", "gru",
                                         "lstm_k2_ln",      "lstm_k3_ln_peep", "lstm_k4_ln",   "lstm_k3",
                                         "ugrnn",           "intersectionrnn", "rgc_shallow",  "rgc_intermediate",
                                         "rgc_intermediate_plain"};

inline double scalar(const std::string& key) { return expected().get(key).item<double>(); }

inline std::map<std::string, at::Tensor> case_vars(const std::string& c) {
  std::map<std::string, at::Tensor> vars;
  const std::string p = c + "/var/";
  for (const auto& [k, t] : expected().tensors)
    if (k.compare(0, p.size(), p) == 0) vars[k.substr(p.size())] = t;
  return vars;
}

inline CellOptions case_options(const std::string& c) {
  CellOptions o;
  o.forget_bias = scalar(c + "/opt/forget_bias");
  o.layer_norm = scalar(c + "/opt/layer_norm") != 0;
  o.channels = expected().get(c + "/s").size(1);  // timedecay (no pre conv in the fixture)
  return o;
}

inline CellType case_type(const std::string& c) { return static_cast<CellType>(static_cast<int>(scalar(c + "/opt/cell_type"))); }

inline ConvRNNCell make_cell(const std::string& c, std::map<std::string, at::Tensor> vars = {}) {
  if (vars.empty()) vars = case_vars(c);
  return ConvRNNCell::from_variables(case_type(c), vars, static_cast<std::int64_t>(scalar(c + "/opt/height")),
                                     static_cast<std::int64_t>(scalar(c + "/opt/width")), case_options(c));
}

inline CellDrive case_drive(const std::string& c) {
  CellDrive d;
  if (expected().has(c + "/u")) d.u = expected().get(c + "/u");
  if (expected().has(c + "/f")) d.f = expected().get(c + "/f");
  return d;
}

inline double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }


/// An in-memory zoo checkpoint: layer -> the variables of a reference case, under tnn_model/<layer>/.
inline Checkpoint zoo_from_cases(const std::vector<std::pair<std::string, std::string>>& layer_case) {
  Checkpoint ck;
  ck.path = "in-memory zoo";
  ck.format = "test";
  for (const auto& [layer, c] : layer_case)
    for (const auto& [n, t] : case_vars(c)) ck.tensors["tnn_model/" + layer + "/" + n] = t;
  for (const auto& [n, t] : ck.tensors) ck.names.push_back(n);
  return ck;
}

}  // namespace convdyn::tests
