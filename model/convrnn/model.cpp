#include "model/convrnn/model.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "linalg/error.hpp"

namespace convdyn::model {

namespace {

const std::string kRoot = "tnn_model/";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

/// Optimiser slots and bookkeeping variables that are not model weights.
bool is_slot(const std::string& n) {
  if (n == "global_step" || starts_with(n, "global_step/")) return true;
  const auto last = n.substr(n.rfind('/') + 1);
  return last == "Momentum" || starts_with(last, "Adam") || n.find("/Adam") != std::string::npos ||
         n.find("/Momentum/") != std::string::npos || n.find("/ExponentialMovingAverage") != std::string::npos;
}

/// "conv10" -> 10 (layers sort by their number), -1 when there is none.
long layer_number(const std::string& name) {
  std::size_t i = name.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(name[i - 1]))) --i;
  return i == name.size() ? -1 : std::stol(name.substr(i));
}

const std::map<std::string, std::int64_t> kShallowHW = {{"conv3", 28}, {"conv4", 14}, {"conv5", 7}};
const std::map<std::string, std::int64_t> kIntermediateHW = {{"conv4", 56}, {"conv5", 28}, {"conv6", 28},
                                                             {"conv7", 14}, {"conv8", 7},  {"conv9", 7},
                                                             {"conv10", 7}};
struct LstmShallowConfig {
  std::int64_t k;
  double forget_bias;
};
const std::map<std::string, LstmShallowConfig> kLstmShallow = {
    {"conv3", {2, 1.356}}, {"conv4", {3, 0.978}}, {"conv5", {4, 0.925}}};

bool is_deep_layer(const std::string& n) {
  const long k = layer_number(n);
  return starts_with(n, "conv") && k >= 6 && k <= 10;
}

/// The non-timedecay cell type of a layer's variables, nullopt when none; ValueError for two.
std::optional<CellType> layer_cell_type(const Checkpoint& ckpt, const std::string& layer,
                                        const std::map<std::string, at::Tensor>& vars) {
  std::optional<CellType> type;
  std::string first;
  for (const auto& [n, t] : vars) {
    auto ct = cell_type_from_scope(n);
    if (!ct || *ct == CellType::TimeDecay) continue;
    if (type && *type != *ct)
      throw ValueError(fmt::format("{}: layer {} mixes cell types: {} ({}) and {} ({})", ckpt.path, layer,
                                   to_string(*type), first, to_string(*ct), n));
    if (!type) first = n;
    type = ct;
  }
  return type;
}

}  // namespace

const ConvRNNLayer& ConvRNNModel::layer(const std::string& name) const {
  for (const auto& l : layers)
    if (l.name == name) return l;
  throw ValueError(fmt::format("{}: no cell layer '{}' (cell layers: {})", path, name, fmt::join(layer_names(), ", ")));
}

std::vector<std::string> ConvRNNModel::layer_names() const {
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.name);
  return names;
}

std::map<std::string, std::map<std::string, at::Tensor>> convrnn_layer_variables(const Checkpoint& ckpt) {
  std::map<std::string, std::map<std::string, at::Tensor>> layers;
  for (const auto& [name, t] : ckpt.tensors) {
    if (!starts_with(name, kRoot) || is_slot(name)) continue;
    const auto rest = name.substr(kRoot.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) continue;
    layers[rest.substr(0, slash)][rest.substr(slash + 1)] = t;
  }
  return layers;
}

bool looks_like_convrnn(const Checkpoint& ckpt) {
  for (const auto& [name, t] : ckpt.tensors) {
    if (!starts_with(name, kRoot) || is_slot(name)) continue;
    const auto rest = name.substr(kRoot.size());
    const auto slash = rest.find('/');
    if (slash != std::string::npos && cell_type_from_scope(rest.substr(slash + 1))) return true;
  }
  return false;
}

ConvRNNModel load_convrnn(const Checkpoint& ckpt, const ConvRNNOptions& opt) {
  const auto groups = convrnn_layer_variables(ckpt);
  CONVDYN_CHECK(!groups.empty(), ValueError, "{}: no variables under tnn_model/ (not a ConvRNN zoo checkpoint)",
                ckpt.path);
  // Cell layers with a cell scope; else the timedecay layers (memory_decay).
  std::map<std::string, CellType> types;
  for (const auto& [layer, vars] : groups)
    if (auto t = layer_cell_type(ckpt, layer, vars)) types[layer] = *t;
  bool deep = false;
  if (types.empty()) {
    for (const auto& [layer, vars] : groups)
      if (vars.count("memory_decay") && is_deep_layer(layer)) deep = true;
    const auto& geometry = deep ? kIntermediateHW : kShallowHW;
    for (const auto& [layer, vars] : groups)
      if (vars.count("memory_decay") && geometry.count(layer)) types[layer] = CellType::TimeDecay;
  } else {
    for (const auto& [layer, t] : types)
      if (is_deep_layer(layer) || t == CellType::RGCIntermediate) deep = true;
  }
  CONVDYN_CHECK(!types.empty(), ValueError,
                "{}: no ConvRNN cell layer found under tnn_model/ (layers: {}; expected a cell scope such as "
                "ConvGRUCell/ or a memory_decay variable)",
                ckpt.path, fmt::join([&] {
                  std::vector<std::string> v;
                  for (const auto& g : groups) v.push_back(g.first);
                  return v;
                }(), ", "));

  ConvRNNModel model;
  model.path = ckpt.path;
  model.depth = deep ? "intermediate" : "shallow";
  const auto& geometry = deep ? kIntermediateHW : kShallowHW;
  std::vector<std::string> order;
  for (const auto& [layer, t] : types) order.push_back(layer);
  std::stable_sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    const long na = layer_number(a), nb = layer_number(b);
    return na != nb ? na < nb : a < b;
  });
  std::set<CellType> family_types;
  for (const auto& name : order) {
    const auto type = types.at(name);
    const auto& vars = groups.at(name);
    family_types.insert(type);
    std::int64_t height = 0, width = 0;
    std::string geometry_source, config_source = "defaults";
    std::vector<std::string> names;
    for (const auto& v : vars) names.push_back(v.first);
    // Spatial size.
    if (auto it = opt.sizes.find(name); it != opt.sizes.end()) {
      std::tie(height, width) = it->second;
      geometry_source = fmt::format("--size {}={}x{}", name, height, width);
    } else if (opt.size) {
      std::tie(height, width) = *opt.size;
      geometry_source = "--size";
    } else if (auto g = geometry.find(name); g != geometry.end()) {
      height = width = g->second;
      geometry_source = fmt::format("{} geometry", model.depth);
    } else {
      throw ValueError(fmt::format("{}: layer {}: its spatial size is not part of the {} geometry; give it with --size",
                                   ckpt.path, name, model.depth));
    }
    CellOptions co;
    co.dtype = opt.dtype;
    co.device = opt.device;
    if (type == CellType::LSTM && !deep) {
      auto cfg = kLstmShallow.find(name);
      auto w = vars.find("ConvLSTMCell/weights");
      if (cfg != kLstmShallow.end() && w != vars.end() && w->second.dim() == 4 && w->second.size(0) == cfg->second.k) {
        co.layer_norm = true;
        co.forget_bias = cfg->second.forget_bias;
        config_source = fmt::format("lstm_shallow config (k {}, layer norm, forget_bias {})", cfg->second.k,
                                      cfg->second.forget_bias);
      }
    }
    try {
      auto cell = ConvRNNCell::from_variables(type, vars, height, width, co);
      model.layers.push_back(ConvRNNLayer{name, type, std::move(cell), height, width, geometry_source, config_source,
                                      std::move(names)});
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("{}: layer {}: {}", ckpt.path, name, e.what()));
    }
  }
  std::string base = to_string(*family_types.begin());
  if (family_types.size() > 1) base = "mixed";
  if (base == "rgc_shallow" || base == "rgc_intermediate") base = "rgc";
  model.family = base + "_" + model.depth;
  return model;
}

}  // namespace convdyn::model
