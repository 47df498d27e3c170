#include "model/convrnn/cell.hpp"

#include <ATen/ATen.h>

#include <functional>
#include <set>

#include "linalg/error.hpp"
#include "linalg/operators/same_conv_operator.hpp"

namespace convdyn::model {

using linalg::conv2d_same;

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

const char* kSimple = "ConvNormBasicCell/";
const char* kGRU = "ConvGRUCell/";
const char* kLSTM = "ConvLSTMCell/";
const char* kUGRNN = "ConvUGRNNCell/";
const char* kIRNN = "ConvIntersectionRNNCell/";
const char* kRGC = "ReciprocalGateCell/";

std::string cell_scope(CellType t);  // the table below
std::string shape_str(at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

/// Collects, checks and converts one cell's variables.
struct Builder {
  CellType type;
  const std::map<std::string, at::Tensor>& vars;
  const CellOptions& opt;
  std::set<std::string> used;
  std::map<std::string, at::Tensor> out;

  const char* tn() const { return to_string(type); }
  bool has(const std::string& n) const { return vars.count(n) > 0; }

  /// The raw variable; `shape` entries < 0 are free. Checks rank, shape and finiteness.
  at::Tensor raw(const std::string& n, const std::vector<std::int64_t>& shape) {
    auto it = vars.find(n);
    CONVDYN_CHECK(it != vars.end() && it->second.defined(), ValueError, "convrnn {}: missing variable {}", tn(), n);
    const auto& t = it->second;
    bool ok = t.dim() == static_cast<std::int64_t>(shape.size());
    for (std::size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t.size(static_cast<std::int64_t>(i)) == shape[i];
    if (!ok) {
      std::vector<std::string> e;
      for (auto d : shape) e.push_back(d < 0 ? "*" : std::to_string(d));
      throw ValueError(fmt::format("convrnn {}: variable {} has shape {}, expected [{}]", tn(), n, shape_str(t.sizes()),
                                   fmt::join(e, ", ")));
    }
    CONVDYN_CHECK(t.is_floating_point(), ValueError, "convrnn {}: variable {} has dtype {}, expected float", tn(), n,
                  c10::toString(t.scalar_type()));
    CONVDYN_CHECK(at::isfinite(t).all().item<bool>(), ValueError, "convrnn {}: variable {} holds NaN or Inf", tn(), n);
    used.insert(n);
    return t.detach();
  }
  void store(const std::string& n, const at::Tensor& t) { out[n] = t.to(opt.device, opt.dtype).contiguous(); }
  /// A full conv [k, k, cin, cout] (square kernel, any k) stored OIHW; returns the TF tensor.
  at::Tensor conv(const std::string& n, std::int64_t cin, std::int64_t cout) {
    auto t = raw(n, {-1, -1, cin, cout});
    CONVDYN_CHECK(t.size(0) == t.size(1) && t.size(0) > 0, ValueError,
                  "convrnn {}: variable {} has a non-square kernel {}x{}", tn(), n, t.size(0), t.size(1));
    store(n, t.permute({3, 2, 0, 1}));
    return t;
  }
  void vec(const std::string& n, std::int64_t c) { store(n, raw(n, {c})); }
  /// Depthwise-separable conv <scope>/{depthwise_weights [k,k,cin,1], pointwise_weights [1,1,cin,cout], bias}.
  void separable(const std::string& scope, std::int64_t cin, std::int64_t cout) {
    auto d = raw(scope + "/depthwise_weights", {-1, -1, cin, 1});
    CONVDYN_CHECK(d.size(0) == d.size(1), ValueError, "convrnn {}: variable {}/depthwise_weights has a non-square kernel",
                  tn(), scope);
    store(scope + "/depthwise_weights", d.permute({2, 3, 0, 1}));  // (cin, 1, k, k)
    conv(scope + "/pointwise_weights", cin, cout);
    CONVDYN_CHECK(out[scope + "/pointwise_weights"].size(2) == 1, ValueError,
                  "convrnn {}: variable {}/pointwise_weights must be 1x1", tn(), scope);
    vec(scope + "/bias", cout);
  }
  /// Layer norm variables <scope>/{gamma, beta} [c]; returns whether they exist (ValueError when
  /// required but absent).
  bool norm(const std::string& scope, std::int64_t c, bool required) {
    const bool present = has(scope + "/gamma") || has(scope + "/beta");
    CONVDYN_CHECK(present || !required, ValueError, "convrnn {}: layer norm requested but variable {}/gamma is missing",
                  tn(), scope);
    if (present) {
      vec(scope + "/gamma", c);
      vec(scope + "/beta", c);
    }
    return present;
  }
  /// Every variable inside the cell's scope must have been used.
  void check_all_used() const {
    const auto scope = cell_scope(type);
    for (const auto& [n, t] : vars) {
      if (starts_with(n, scope) && !used.count(n))
        throw ValueError(fmt::format("convrnn {}: unsupported variable {} {}", tn(), n, shape_str(t.sizes())));
    }
  }
};

/// Output channels of a gate kernel [k, k, Cin + C, m C] and the implied C, Cin.
std::pair<std::int64_t, std::int64_t> gate_channels(Builder& b, const std::string& n, std::int64_t m) {
  auto t = b.raw(n, {-1, -1, -1, -1});
  CONVDYN_CHECK(t.size(3) % m == 0 && t.size(3) > 0, ValueError,
                "convrnn {}: variable {} has {} output channels, expected a multiple of {}", b.tn(), n, t.size(3), m);
  const std::int64_t c = t.size(3) / m, cin = t.size(2) - c;
  CONVDYN_CHECK(cin > 0, ValueError,
                "convrnn {}: variable {} has shape {}: input channels {} must exceed the state channels {} ([x; h])",
                b.tn(), n, shape_str(t.sizes()), t.size(2), c);
  return {c, cin};
}

}  // namespace

/// The code of each cell type, in one place per type: how it is built from its variables, how it steps,
/// and which purely linear recurrent convs it holds. Friend of ConvRNNCell.
struct detail::CellOps {
  using Cell = ConvRNNCell;
  using Part = ConvRNNCell::LinearPart;
  using Parts = std::vector<Part>;
  /// The inputs of one step, converted to the cell's dtype and device (x expanded to the batch of s).
  struct In {
    at::Tensor x, s;
    const CellDrive& extra;
    std::function<at::Tensor(const at::Tensor&)> to;
  };

  static at::Tensor d(const at::Tensor& t) { return t.to(at::kCPU, at::kDouble).contiguous(); }
  // h columns of a [x; h] kernel (OIHW), rows [g c, (g + 1) c).
  static at::Tensor h_block(const Cell& c, const std::string& key, std::int64_t g) {
    return d(c.w(key).narrow(0, g * c.c_, c.c_).narrow(1, c.cin_, c.c_));
  }
  static void gates(const Cell& c, const std::string& key, const std::vector<std::pair<std::string, std::string>>& names,
                    Parts& parts) {
    for (std::size_t g = 0; g < names.size(); ++g)
      parts.push_back({names[g].first, h_block(c, key, static_cast<std::int64_t>(g)), "same", "h", "h", names[g].second});
  }
  // A depthwise-separable DS7 folded into one conv: W[o, i] = P[o, i] D[i].
  static at::Tensor folded(const Cell& c, const std::string& scope) {
    auto dw = d(c.w(scope + "/depthwise_weights")).select(1, 0);                // (cin, k, k)
    auto pw = d(c.w(scope + "/pointwise_weights")).select(3, 0).select(2, 0);  // (cout, cin)
    return (pw.unsqueeze(2).unsqueeze(3) * dw.unsqueeze(0)).contiguous();
  }

  // ---- timedecay: s' = m s + x
  static void build_timedecay(Builder& b, Cell& cell) {
    auto it = b.vars.find("memory_decay");
    const bool scalar = it != b.vars.end() && it->second.defined() && it->second.dim() == 0;
    auto m = scalar ? b.raw("memory_decay", {}) : b.raw("memory_decay", {1});
    cell.memory_decay_ = m.to(at::kDouble).item<double>();
    std::int64_t c = b.opt.channels;
    if (c <= 0) {
      CONVDYN_CHECK(b.vars.count("pre_0/weights_basenet") && b.vars.at("pre_0/weights_basenet").dim() == 4, ValueError,
                    "convrnn timedecay: cannot tell the channel count (no 4-D pre_0/weights_basenet); set "
                    "CellOptions::channels");
      c = b.vars.at("pre_0/weights_basenet").size(3);
    }
    cell.c_ = cell.cin_ = c;
  }
  static at::Tensor step_timedecay(const Cell& c, const In& in) { return in.s * c.memory_decay_ + in.x; }
  static void parts_timedecay(const Cell&, Parts&) {}

  // ---- simplernn: h' = elu([LN](W_s * h + b_s + W_i * x + b_i))
  static void build_simplernn(Builder& b, Cell& cell) {
    const std::string p = kSimple;
    auto ws = b.raw(p + "s/weights", {-1, -1, -1, -1});
    const std::int64_t c = ws.size(3);
    b.conv(p + "s/weights", c, c);
    b.vec(p + "s/bias", c);
    cell.cin_ = b.raw(p + "i/weights", {-1, -1, -1, c}).size(2);
    b.conv(p + "i/weights", cell.cin_, c);
    b.vec(p + "i/bias", c);
    cell.layer_norm_ = b.norm(p + "layer_norm", c, b.opt.layer_norm);
    cell.c_ = c;
  }
  static at::Tensor step_simplernn(const Cell& c, const In& in) {
    const std::string p = kSimple;
    auto a = conv2d_same(in.s, c.w(p + "s/weights"), c.w(p + "s/bias")) +
             conv2d_same(in.x, c.w(p + "i/weights"), c.w(p + "i/bias"));
    if (c.layer_norm_) a = c.ln(a, p + "layer_norm");
    return at::elu(a);
  }
  static void parts_simplernn(const Cell& c, Parts& parts) {
    parts.push_back({"s", d(c.w(std::string(kSimple) + "s/weights")), "same", "h", "h", "h -> pre-activation"});
  }

  // ---- gru
  static void build_gru(Builder& b, Cell& cell) {
    const std::string p = kGRU;
    auto [c, cin] = gate_channels(b, p + "gates/weights", 2);
    b.conv(p + "gates/weights", cin + c, 2 * c);
    b.vec(p + "gates/bias", 2 * c);
    b.conv(p + "candidates/weights", cin + c, c);
    b.vec(p + "candidates/bias", c);
    cell.c_ = c;
    cell.cin_ = cin;
  }
  static at::Tensor step_gru(const Cell& c, const In& in) {
    const std::string p = kGRU;
    const auto& s = in.s;
    auto g = conv2d_same(at::cat({in.x, s}, 1), c.w(p + "gates/weights"), c.w(p + "gates/bias"));
    auto r = at::sigmoid(g.narrow(1, 0, c.c_) + c.opt_.forget_bias);
    auto u = at::sigmoid(g.narrow(1, c.c_, c.c_));
    auto cand = at::tanh(conv2d_same(at::cat({in.x, r * s}, 1), c.w(p + "candidates/weights"), c.w(p + "candidates/bias")));
    return u * s + (1 - u) * cand;
  }
  static void parts_gru(const Cell& c, Parts& parts) {
    gates(c, std::string(kGRU) + "gates/weights", {{"gates/r/h", "h -> reset gate"}, {"gates/u/h", "h -> update gate"}},
          parts);
    gates(c, std::string(kGRU) + "candidates/weights", {{"candidates/h", "r.h -> candidate"}}, parts);
  }

  // ---- lstm (state [c; h])
  static void build_lstm(Builder& b, Cell& cell) {
    const std::string p = kLSTM;
    auto [c, cin] = gate_channels(b, p + "weights", 4);
    b.conv(p + "weights", cin + c, 4 * c);
    b.vec(p + "bias", 4 * c);
    bool ln = false;
    for (const char* g : {"input", "transform", "forget", "output", "state"}) ln = b.norm(p + g, c, b.opt.layer_norm || ln) || ln;
    if (ln)  // all five or none
      for (const char* g : {"input", "transform", "forget", "output", "state"}) b.norm(p + g, c, true);
    cell.layer_norm_ = ln;
    const std::string pp = p + "peepholes/w_";
    cell.peepholes_ = b.has(pp + "f_diag") || b.has(pp + "i_diag") || b.has(pp + "o_diag");
    if (cell.peepholes_) {
      for (const char* g : {"f", "i", "o"}) {
        const auto n = pp + g + "_diag";
        b.store(n, b.raw(n, {cell.height_, cell.width_, c}).permute({2, 0, 1}));
      }
    }
    cell.c_ = cell.cc_ = c;
    cell.cin_ = cin;
  }
  static at::Tensor step_lstm(const Cell& cell, const In& in) {
    const std::string p = kLSTM;
    const std::int64_t c = cell.c_;
    auto cs = in.s.narrow(1, 0, c), h = in.s.narrow(1, c, c);
    auto a = conv2d_same(at::cat({in.x, h}, 1), cell.w(p + "weights"), cell.w(p + "bias"));
    auto i = a.narrow(1, 0, c), j = a.narrow(1, c, c), f = a.narrow(1, 2 * c, c), o = a.narrow(1, 3 * c, c);
    if (cell.layer_norm_) {
      i = cell.ln(i, p + "input");
      j = cell.ln(j, p + "transform");
      f = cell.ln(f, p + "forget");
      o = cell.ln(o, p + "output");
    }
    if (cell.peepholes_) {
      f = f + cell.w(p + "peepholes/w_f_diag") * cs;
      i = i + cell.w(p + "peepholes/w_i_diag") * cs;
      o = o + cell.w(p + "peepholes/w_o_diag") * cs;  // the old c (docs/convrnn.md: w_o.c)
    }
    auto c2 = cs * at::sigmoid(f + cell.opt_.forget_bias) + at::sigmoid(i) * at::tanh(j);
    if (cell.layer_norm_) c2 = cell.ln(c2, p + "state");
    auto h2 = at::tanh(c2) * at::sigmoid(o);
    return at::cat({c2, h2}, 1);
  }
  static void parts_lstm(const Cell& c, Parts& parts) {
    gates(c, std::string(kLSTM) + "weights",
          {{"i/h", "h -> input gate"}, {"j/h", "h -> transform"}, {"f/h", "h -> forget gate"}, {"o/h", "h -> output gate"}},
          parts);
  }

  // ---- ugrnn and intersectionrnn share the gated update of the state
  static void build_gated(Builder& b, Cell& cell, const std::string& p, std::int64_t m) {
    auto [c, cin] = gate_channels(b, p + "weights", m);
    CONVDYN_CHECK(cell.type_ == CellType::UGRNN || cin == c, ValueError,
                  "convrnn intersectionrnn: variable {}weights gives {} input channels but {} state channels (the "
                  "cell needs them equal)", p, cin, c);
    b.conv(p + "weights", cin + c, m * c);
    b.vec(p + "bias", m * c);
    cell.c_ = c;
    cell.cin_ = cin;
  }
  static at::Tensor step_gated(const Cell& c, const In& in, const std::string& p) {
    auto a = conv2d_same(at::cat({in.x, in.s}, 1), c.w(p + "weights"), c.w(p + "bias"));
    auto g = at::sigmoid(a.narrow(1, 0, c.c_) + c.opt_.forget_bias);
    return g * in.s + (1 - g) * at::tanh(a.narrow(1, c.c_, c.c_));
  }
  static void build_ugrnn(Builder& b, Cell& cell) { build_gated(b, cell, kUGRNN, 2); }
  static at::Tensor step_ugrnn(const Cell& c, const In& in) { return step_gated(c, in, kUGRNN); }
  static void parts_ugrnn(const Cell& c, Parts& parts) {
    gates(c, std::string(kUGRNN) + "weights", {{"g/h", "h -> update gate"}, {"c/h", "h -> candidate"}}, parts);
  }
  static void build_intersectionrnn(Builder& b, Cell& cell) { build_gated(b, cell, kIRNN, 4); }
  static at::Tensor step_intersectionrnn(const Cell& c, const In& in) { return step_gated(c, in, kIRNN); }
  static void parts_intersectionrnn(const Cell& c, Parts& parts) {
    gates(c, std::string(kIRNN) + "weights",
          {{"gh/h", "h -> state gate"}, {"h/h", "h -> state candidate"}, {"gy/h", "h -> output gate"},
           {"y/h", "h -> output candidate"}},
          parts);
  }

  // ---- rgc_shallow (state [c; h], full convs without biases)
  static void build_rgc_shallow(Builder& b, Cell& cell) {
    const std::string p = kRGC;
    const std::int64_t c = b.raw(p + "cell/tau/weights", {-1, -1, -1, -1}).size(3);
    b.conv(p + "cell/tau/weights", c, c);
    b.conv(p + "cell/gate/weights", c, c);
    b.conv(p + "cell/input_to_cell/weights", c, c);  // x has C channels: h' adds gate . x
    b.conv(p + "out/tau/weights", c, c);
    b.conv(p + "out/gate/weights", c, c);
    const auto r = p + "out/residual_to_out_gate/weights";
    if (b.has(r)) cell.cu_ = b.conv(r, -1, c).size(2);
    cell.c_ = cell.cc_ = cell.cin_ = c;
  }
  static at::Tensor step_rgc_shallow(const Cell& cell, const In& in) {
    const std::string p = kRGC;
    const std::int64_t c = cell.c_;
    auto cs = in.s.narrow(1, 0, c), h = in.s.narrow(1, c, c);
    auto fx = conv2d_same(in.x, cell.w(p + "cell/input_to_cell/weights"));
    auto c2 = at::elu((1 - at::sigmoid(conv2d_same(cs, cell.w(p + "cell/tau/weights")))) * cs +
                      (1 - at::sigmoid(conv2d_same(h, cell.w(p + "cell/gate/weights")))) * fx);
    auto gate = conv2d_same(cs, cell.w(p + "out/gate/weights"));
    if (in.extra.u.defined()) gate = gate + conv2d_same(in.to(in.extra.u), cell.w(p + "out/residual_to_out_gate/weights"));
    auto h2 = at::elu((1 - at::sigmoid(conv2d_same(h, cell.w(p + "out/tau/weights")))) * h + (1 - at::sigmoid(gate)) * in.x);
    return at::cat({c2, h2}, 1);
  }
  static void parts_rgc_shallow(const Cell& c, Parts& parts) {
    const std::string p = kRGC;
    parts.push_back({"cell/tau", d(c.w(p + "cell/tau/weights")), "same", "c", "c", "c -> cell time constant"});
    parts.push_back({"out/tau", d(c.w(p + "out/tau/weights")), "same", "h", "h", "h -> output time constant"});
    parts.push_back({"cell/gate", d(c.w(p + "cell/gate/weights")), "same", "h", "c", "h -> cell input gate"});
    parts.push_back({"out/gate", d(c.w(p + "out/gate/weights")), "same", "c", "h", "c -> output input gate"});
  }

  // ---- rgc_intermediate (state [c; h], depthwise-separable 7x7 gates, fixed scales, residual and feedback)
  static void build_rgc_intermediate(Builder& b, Cell& cell) {
    const std::string p = kRGC;
    const std::int64_t c = b.raw(p + "out/tau/pointwise_weights", {1, 1, -1, -1}).size(3);
    const std::int64_t cc = b.raw(p + "cell/tau/pointwise_weights", {1, 1, -1, -1}).size(3);
    b.separable(p + "cell/tau", cc, cc);
    b.separable(p + "cell/out_to_cell", c, cc);
    b.separable(p + "out/tau", c, c);
    b.separable(p + "out/gate", cc, c);
    const std::int64_t cin = b.conv(p + "cell/input_to_cell_weights", -1, cc).size(2);
    b.vec(p + "cell/input_to_cell_bias", cc);
    b.conv(p + "out/input_to_out_weights", cin, c);
    b.vec(p + "out/input_to_out_bias", c);
    const auto fb = p + "out/feedback_to_out_weights";
    if (b.has(fb) || b.has(p + "out/feedback_to_out_bias")) {
      cell.cfb_ = b.conv(fb, -1, c).size(2);
      b.vec(p + "out/feedback_to_out_bias", c);
    }
    const auto res = p + "out/residual_add_weights";
    cell.residual_projection_ = b.has(res);
    cell.cu_ = cell.residual_projection_ ? b.conv(res, -1, c).size(2) : c;
    cell.c_ = c;
    cell.cc_ = cc;
    cell.cin_ = cin;
  }
  static at::Tensor step_rgc_intermediate(const Cell& cell, const In& in) {
    const std::string p = kRGC;
    const double ts = cell.opt_.rgc_tau_scale, gs = cell.opt_.rgc_gate_scale;
    auto cs = in.s.narrow(1, 0, cell.cc_), h = in.s.narrow(1, cell.cc_, cell.c_);
    auto ffc = conv2d_same(in.x, cell.w(p + "cell/input_to_cell_weights"), cell.w(p + "cell/input_to_cell_bias"));
    auto c2 = at::elu((ts - ts * at::sigmoid(cell.ds7(cs, p + "cell/tau"))) * cs +
                      (gs - gs * at::tanh(cell.ds7(h, p + "cell/out_to_cell"))) * ffc);
    auto drive = conv2d_same(in.x, cell.w(p + "out/input_to_out_weights"), cell.w(p + "out/input_to_out_bias"));
    if (in.extra.u.defined())
      drive = drive + (cell.residual_projection_ ? conv2d_same(in.to(in.extra.u), cell.w(p + "out/residual_add_weights"))
                                                  : in.to(in.extra.u));
    if (cell.cfb_ > 0) {
      // The feedback bias enters even with a zero feedback input.
      drive = in.extra.f.defined() ? drive + conv2d_same(in.to(in.extra.f), cell.w(p + "out/feedback_to_out_weights"),
                                                         cell.w(p + "out/feedback_to_out_bias"))
                                   : drive + cell.w(p + "out/feedback_to_out_bias").view({1, -1, 1, 1});
    }
    auto h2 = at::elu((ts - ts * at::sigmoid(cell.ds7(h, p + "out/tau"))) * h +
                      (gs - gs * at::tanh(cell.ds7(cs, p + "out/gate"))) * drive);
    return at::cat({c2, h2}, 1);
  }
  static void parts_rgc_intermediate(const Cell& c, Parts& parts) {
    const std::string p = kRGC;
    parts.push_back({"cell/tau", folded(c, p + "cell/tau"), "same", "c", "c", "c -> cell time constant (DS7)"});
    parts.push_back({"out/tau", folded(c, p + "out/tau"), "same", "h", "h", "h -> output time constant (DS7)"});
    parts.push_back({"cell/out_to_cell", folded(c, p + "cell/out_to_cell"), "same", "h", "c", "h -> cell gate (DS7)"});
    parts.push_back({"out/gate", folded(c, p + "out/gate"), "same", "c", "h", "c -> output gate (DS7)"});
  }
};

namespace {
using Ops = detail::CellOps;

/// One row per cell type: its name, its variable scope and its code.
struct CellKind {
  CellType type;
  const char* name;
  const char* scope;
  void (*build)(Builder&, ConvRNNCell&);
  at::Tensor (*step)(const ConvRNNCell&, const Ops::In&);
  void (*parts)(const ConvRNNCell&, Ops::Parts&);
};

const CellKind kKinds[] = {
    {CellType::TimeDecay, "timedecay", "memory_decay", Ops::build_timedecay, Ops::step_timedecay, Ops::parts_timedecay},
    {CellType::SimpleRNN, "simplernn", kSimple, Ops::build_simplernn, Ops::step_simplernn, Ops::parts_simplernn},
    {CellType::GRU, "gru", kGRU, Ops::build_gru, Ops::step_gru, Ops::parts_gru},
    {CellType::LSTM, "lstm", kLSTM, Ops::build_lstm, Ops::step_lstm, Ops::parts_lstm},
    {CellType::UGRNN, "ugrnn", kUGRNN, Ops::build_ugrnn, Ops::step_ugrnn, Ops::parts_ugrnn},
    {CellType::IntersectionRNN, "intersectionrnn", kIRNN, Ops::build_intersectionrnn, Ops::step_intersectionrnn,
     Ops::parts_intersectionrnn},
    {CellType::RGCShallow, "rgc_shallow", kRGC, Ops::build_rgc_shallow, Ops::step_rgc_shallow, Ops::parts_rgc_shallow},
    {CellType::RGCIntermediate, "rgc_intermediate", kRGC, Ops::build_rgc_intermediate, Ops::step_rgc_intermediate,
     Ops::parts_rgc_intermediate},
};

const CellKind& kind(CellType t) {
  for (const auto& k : kKinds)
    if (k.type == t) return k;
  throw InternalError("convrnn: unknown cell type");
}

std::string cell_scope(CellType t) { return kind(t).scope; }
}  // namespace

const char* to_string(CellType t) { return kind(t).name; }

std::optional<CellType> cell_type_from_scope(const std::string& n) {
  if (n == "memory_decay") return CellType::TimeDecay;
  if (starts_with(n, kSimple)) return CellType::SimpleRNN;
  if (starts_with(n, kGRU)) return CellType::GRU;
  if (starts_with(n, kLSTM)) return CellType::LSTM;
  if (starts_with(n, kUGRNN)) return CellType::UGRNN;
  if (starts_with(n, kIRNN)) return CellType::IntersectionRNN;
  if (starts_with(n, kRGC)) return ends_with(n, "/weights") ? CellType::RGCShallow : CellType::RGCIntermediate;
  return std::nullopt;
}

ConvRNNCell ConvRNNCell::from_variables(CellType type, const std::map<std::string, at::Tensor>& vars,
                                        std::int64_t height, std::int64_t width, const CellOptions& opt) {
  CONVDYN_CHECK(height > 0 && width > 0, ValueError, "convrnn {}: spatial size {}x{} must be positive",
                to_string(type), height, width);
  CONVDYN_CHECK(opt.dtype == at::kDouble || opt.dtype == at::kFloat, ValueError,
                "convrnn {}: dtype {} not supported (float64 or float32)", to_string(type), c10::toString(opt.dtype));
  ConvRNNCell cell;
  cell.type_ = type;
  cell.opt_ = opt;
  cell.height_ = height;
  cell.width_ = width;
  Builder b{type, vars, opt, {}, {}};
  kind(type).build(b, cell);
  b.check_all_used();
  cell.w_ = std::move(b.out);
  return cell;
}

std::string ConvRNNCell::state_layout() const { return cc_ > 0 ? "[c; h]" : "[h]"; }

std::vector<std::int64_t> ConvRNNCell::kernel_sizes() const {
  std::set<std::int64_t> k;
  for (const auto& [n, t] : w_)
    if (t.dim() == 4) k.insert(t.size(2));
  return {k.begin(), k.end()};
}

std::string ConvRNNCell::describe() const {
  auto ks = kernel_sizes();
  std::string extra;
  if (type_ == CellType::TimeDecay) extra = fmt::format(", m {}", memory_decay_);
  if (layer_norm_) extra += ", layer norm";
  if (peepholes_) extra += ", peepholes";
  if (type_ == CellType::LSTM || type_ == CellType::GRU || type_ == CellType::UGRNN ||
      type_ == CellType::IntersectionRNN)
    extra += fmt::format(", forget_bias {}", opt_.forget_bias);
  return fmt::format("{}, state {} {} ch, input {} ch, k {}, {}x{}{}", to_string(type_), state_layout(),
                     state_channels(), cin_, ks.empty() ? std::string("-") : fmt::format("{}", fmt::join(ks, "/")),
                     height_, width_, extra);
}

const at::Tensor& ConvRNNCell::w(const std::string& key) const {
  auto it = w_.find(key);
  CONVDYN_ASSERT(it != w_.end(), "convrnn {}: no weight {}", to_string(type_), key);
  return it->second;
}

at::Tensor ConvRNNCell::zero_state() const {
  return at::zeros({1, state_channels(), height_, width_}, at::TensorOptions().dtype(opt_.dtype).device(opt_.device));
}

at::Tensor ConvRNNCell::ln(const at::Tensor& v, const std::string& scope) const {
  auto mean = v.mean({1, 2, 3}, true);
  auto d = v - mean;
  auto var = (d * d).mean({1, 2, 3}, true);
  return d * at::rsqrt(var + opt_.ln_epsilon) * w(scope + "/gamma").view({1, -1, 1, 1}) +
         w(scope + "/beta").view({1, -1, 1, 1});
}

at::Tensor ConvRNNCell::ds7(const at::Tensor& v, const std::string& scope) const {
  auto d = conv2d_same(v, w(scope + "/depthwise_weights"), {}, v.size(1));
  return conv2d_same(d, w(scope + "/pointwise_weights"), w(scope + "/bias"));
}

void ConvRNNCell::check_inputs(const at::Tensor& x, const at::Tensor& s, const CellDrive& extra) const {
  const char* tn = to_string(type_);
  CONVDYN_CHECK(s.defined() && s.dim() == 4 && s.size(1) == state_channels() && s.size(2) == height_ &&
                    s.size(3) == width_,
                ValueError, "convrnn {}: state must be (B, {}, {}, {}), got {}", tn, state_channels(), height_, width_,
                s.defined() ? shape_str(s.sizes()) : std::string("undefined"));
  auto check4 = [&](const at::Tensor& t, std::int64_t c, const char* what) {
    CONVDYN_CHECK(t.dim() == 4 && (t.size(0) == 1 || t.size(0) == s.size(0)) && t.size(1) == c &&
                      t.size(2) == height_ && t.size(3) == width_,
                  ValueError, "convrnn {}: {} must be (1 or {}, {}, {}, {}), got {}", tn, what, s.size(0), c, height_,
                  width_, shape_str(t.sizes()));
  };
  CONVDYN_CHECK(x.defined(), ValueError, "convrnn {}: undefined input x", tn);
  check4(x, cin_, "input x");
  if (extra.u.defined()) {
    CONVDYN_CHECK(cu_ > 0, ValueError, "convrnn {}: the cell takes no residual drive u", tn);
    check4(extra.u, cu_, "residual drive u");
  }
  if (extra.f.defined()) {
    CONVDYN_CHECK(cfb_ > 0, ValueError, "convrnn {}: the cell takes no feedback drive f", tn);
    check4(extra.f, cfb_, "feedback drive f");
  }
}

at::Tensor ConvRNNCell::step(const at::Tensor& x_in, const at::Tensor& s_in, const CellDrive& extra) const {
  check_inputs(x_in, s_in, extra);
  const auto to = [this](const at::Tensor& t) { return t.to(opt_.device, opt_.dtype); };
  auto s = to(s_in);
  auto x = to(x_in);
  if (x.size(0) != s.size(0)) x = x.expand({s.size(0), -1, -1, -1});
  return kind(type_).step(*this, detail::CellOps::In{x, s, extra, to});
}

at::Tensor ConvRNNCell::output(const at::Tensor& x_in, const at::Tensor& s_in, const CellDrive& extra) const {
  if (type_ == CellType::IntersectionRNN) {
    check_inputs(x_in, s_in, extra);
    auto s = s_in.to(opt_.device, opt_.dtype), x = x_in.to(opt_.device, opt_.dtype);
    if (x.size(0) != s.size(0)) x = x.expand({s.size(0), -1, -1, -1});
    const std::string p = kIRNN;
    auto a = conv2d_same(at::cat({x, s}, 1), w(p + "weights"), w(p + "bias"));
    auto g = at::sigmoid(a.narrow(1, 2 * c_, c_) + opt_.forget_bias);
    return g * x + (1 - g) * at::relu(a.narrow(1, 3 * c_, c_));
  }
  auto next = step(x_in, s_in, extra);
  return cc_ > 0 ? next.narrow(1, cc_, c_) : next;
}

std::vector<ConvRNNCell::LinearPart> ConvRNNCell::linear_parts() const {
  std::vector<LinearPart> parts;
  kind(type_).parts(*this, parts);
  return parts;
}

}  // namespace convdyn::model
