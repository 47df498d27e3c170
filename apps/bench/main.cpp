// convdyn-bench: the eigensolvers side by side on synthetic operators of the CordsNet R8 shapes, the floor
// set by the conv's GEMM, and whole-model rows (docs/solvers.md, README "Benchmark").
//
// Operators. For each shape C x H x W (default: the four R8 recurrent layers) a random 3x3 kernel
// w[C, C, 3, 3] ~ randn / sqrt(9 C) (seed 1000 + shape index, --seed adds to it) wrapped as a zero-padded
// ConvOperator: the variance-preserving scale of a trained layer, eigenvalues near Re = 1 where the
// stability question lives. The same weights give the float64 and the float32 operators.
//
// Methods (--methods; every row goes through linalg::solve, as `convdyn spectrum` does):
//   krylov-schur            the default (s-step expansion, float64 conv kernel)
//   krylov-schur-sstep1     one vector per Gram–Schmidt pass (the s-step expansion off)
//   krylov-schur-libtorch   sstep 1 and LibTorch's conv: the solver as it was before the speed work
//   krylov-schur-cgs2       --reorth always
//   spectra, arpack         one row per --ncvs rule (default 2k+1, 3k, 4k), e.g. "arpack ncv=41"
//   arnoldi-qr              the published CordsNet method (float32, 300 steps, 5000 QR iterations)
// Each shape and k also gets a floor row: krylov-schur's matvecs times the time of one dgemm with one
// matvec's FLOPs ([C, 9C] x [9C, H W], measured in this process); t/floor = seconds / (matvecs x that time)
// for every row is the distance of a method's step to the physical limit. Two more cost rows (CPU) split a
// krylov-schur step: "conv only" = those matvecs times one apply of convdyn's float64 conv to one vector,
// "conv only (libtorch)" the same with LibTorch's conv; the rest of a step is Gram-Schmidt and restarts.
//
// Whole-model rows: --model r8 (the 8 R8 areas, k = 10, LR, as `convdyn spectrum --all --k 10`) and
// --stability d4 (`convdyn stability` on a depth-4 CordsNet of the release's sizes with one image); with
// --baseline each also runs with krylov-schur-libtorch's settings, in the same process.
//
// Columns: seconds (min over --repeat), matvecs, restarts, conv/k, missed (values another method converged
// to that rank before this method's last one but are absent from its values, matched to --match-tol),
// max resid, max dlambda (distance to the reference row, marked *: all k converged, nothing missed,
// smallest residual), lambda_1, t/KS, t/AQR, t/floor. Progress goes to stderr.
#include <ATen/ATen.h>
#include <unistd.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "analysis/cordsnet_stability.hpp"
#include "analysis/model_run.hpp"
#include "analysis/spectrum.hpp"
#include "apps/allocator.hpp"
#include "apps/bench/models.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/solve.hpp"
#include "model/convrnn/network.hpp"
#include "model/cordsnet/cordsnet.hpp"
#include "model/cordsnet/detect.hpp"
#include "model/io/images.hpp"

namespace {
using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;
using Clock = std::chrono::steady_clock;

constexpr const char* kMethodList =
    "krylov-schur, krylov-schur-sstep1, krylov-schur-libtorch, krylov-schur-cgs2, spectra, arpack, arnoldi-qr";

struct BenchArgs {
  std::string shapes = "64x56x56,128x28x28,256x14x14,512x7x7";
  std::string methods = "krylov-schur,spectra,arpack,arnoldi-qr";
  std::string ks = "20";
  std::string ncvs = "2k+1,3k,4k";
  std::string which = "LR";
  std::string device = "cpu";
  std::string model;      // "", "r8"
  std::string stability;  // "", "d4"
  std::string run;        // "", or a CordsNet checkpoint for the model-run throughput rows
  std::string run_images = "apps/demo/fmnist-t10k-16-images-idx3-ubyte.gz";
  std::int64_t run_n = 64;
  std::int64_t run_batch = 16;
  std::string python = "/usr/bin/python3";
  std::string run_zoo;  // "", or comma-separated zoo-shaped models (gru_shallow, ugrnn_intermediate, ...)
  bool baseline = false;
  bool no_operators = false;
  double tol = 1e-10;
  double match_tol = 1e-6;
  int repeat = 1;
  std::int64_t ncv = 0;
  std::int64_t sstep = 0;
  int max_restarts = 1000;
  std::int64_t steps = 300;
  int qr_iters = 5000;
  std::uint64_t seed = 0;
  int threads = 0;
  bool markdown = false;
  bool values = false;
};

struct Shape {
  std::int64_t c, h, w;
  std::string str() const { return fmt::format("{}x{}x{}", c, h, w); }
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::int64_t parse_int(const std::string& s, const char* what) {
  try {
    std::size_t used = 0;
    const auto v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  throw ValueError(fmt::format("{}: '{}' is not an integer", what, s));
}

std::vector<Shape> parse_shapes(const std::string& s) {
  std::vector<Shape> out;
  for (const auto& item : split(s, ',')) {
    const auto parts = split(item, 'x');
    CONVDYN_CHECK(parts.size() == 3, ValueError, "--shapes: '{}' is not CxHxW (e.g. 64x56x56)", item);
    const Shape sh{parse_int(parts[0], "--shapes"), parse_int(parts[1], "--shapes"), parse_int(parts[2], "--shapes")};
    CONVDYN_CHECK(sh.c > 0 && sh.h > 0 && sh.w > 0, ValueError, "--shapes: '{}' must be positive", item);
    out.push_back(sh);
  }
  return out;
}

/// "2k+1", "3k", "4k", "60": a subspace size rule for the second opinions.
std::int64_t ncv_of(const std::string& rule, std::int64_t k, std::int64_t n) {
  std::int64_t v = 0;
  const auto kpos = rule.find('k');
  if (kpos == std::string::npos) {
    v = parse_int(rule, "--ncvs");
  } else {
    const std::int64_t a = kpos == 0 ? 1 : parse_int(rule.substr(0, kpos), "--ncvs");
    const std::string rest = rule.substr(kpos + 1);
    const std::int64_t b = rest.empty() ? 0 : parse_int(rest[0] == '+' ? rest.substr(1) : rest, "--ncvs");
    v = a * k + b;
  }
  return std::min(std::max(v, k + 2), n);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string machine_line() {
  std::string libblas = "?";
  std::error_code ec;
  const auto canon = std::filesystem::canonical("/usr/lib/x86_64-linux-gnu/libblas.so.3", ec);
  if (!ec) libblas = canon.filename().string() + " (" + canon.parent_path().filename().string() + ")";
  std::string cpu = "?";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = trim(line.substr(line.find(':') + 1));
      break;
    }
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  return fmt::format("# convdyn-bench {} | torch threads {} | libblas.so.3 -> {} | CPU {} x{}", date,
                     at::get_num_threads(), libblas, cpu, std::thread::hardware_concurrency());
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The time of one apply of op to one vector (CPU): min over a few calls.
double apply_seconds(const ConvOperator& op) {
  const at::Tensor x = at::randn({1, op.size()}, at::TensorOptions().dtype(op.dtype()));
  double best = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = Clock::now();
    const at::Tensor y = op.apply(x);
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

/// The time of one dgemm with the FLOPs of one matvec of a C-channel 3x3 conv on H x W ([C, 9C] x [9C, H W],
/// float64, preallocated; LibTorch's at::mm_out calls the BLAS dgemm): min over a few calls.
double gemm_floor_seconds(const Shape& sh) {
  const auto opt = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor a = at::randn({sh.c, 9 * sh.c}, opt), b = at::randn({9 * sh.c, sh.h * sh.w}, opt);
  at::Tensor c = at::empty({sh.c, sh.h * sh.w}, opt);
  double best = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = Clock::now();
    at::mm_out(c, a, b);
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

struct Row {
  std::string shape;
  std::int64_t n = 0, k = 0;
  std::string method, dtype;
  EigResult result;
  double seconds = 0.0;
  double floor_per_matvec = 0.0;  // of the shape
  std::string error;
  bool reference = false, is_floor = false;
  double max_dlambda = std::numeric_limits<double>::quiet_NaN();
  int missed = -1;
};

std::string sci(double v) { return std::isfinite(v) ? fmt::format("{:.1e}", v) : (std::isnan(v) ? "-" : "inf"); }

void print_table(const std::vector<Row>& rows, bool markdown) {
  const std::vector<std::string> head = {"shape",     "n",          "k",        "method", "dtype", "seconds",
                                         "matvecs",   "restarts",   "conv/k",   "missed", "max resid",
                                         "max dlambda", "lambda_1", "t/KS",     "t/AQR",  "t/floor"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    const auto& e = r.result;
    auto ratio = [&](const std::string& base) -> std::string {
      for (const auto& o : rows)
        if (o.shape == r.shape && o.k == r.k && o.method == base && o.error.empty() && o.seconds > 0)
          return fmt::format("{:.2f}", r.seconds / o.seconds);
      return "-";
    };
    if (!r.error.empty()) {
      cells.push_back({r.shape, std::to_string(r.n), std::to_string(r.k), r.method, r.dtype, "error: " + r.error, "",
                       "", "", "", "", "", "", "", "", ""});
      continue;
    }
    const std::string floor_ratio =
        e.matvecs > 0 && r.floor_per_matvec > 0 ? fmt::format("{:.2f}", r.seconds / (e.matvecs * r.floor_per_matvec)) : "-";
    if (r.is_floor) {
      cells.push_back({r.shape, std::to_string(r.n), std::to_string(r.k), r.method, "float64",
                       fmt::format("{:.2f}", r.seconds), std::to_string(e.matvecs), "", "", "", "", "", "",
                       ratio("krylov-schur"), ratio("arnoldi-qr"), floor_ratio});
      continue;
    }
    const Eigen::Index nconv = e.converged.count();
    const double maxres = e.residuals.size() ? e.residuals.maxCoeff() : std::numeric_limits<double>::quiet_NaN();
    const std::string l1 = e.size() ? fmt::format("{:.6f}{:+.6f}i", e.values(0).real(), e.values(0).imag()) : "-";
    cells.push_back({r.shape, std::to_string(r.n), std::to_string(r.k), r.method + (r.reference ? "*" : ""), r.dtype,
                     fmt::format("{:.2f}", r.seconds), std::to_string(e.matvecs), std::to_string(e.restarts),
                     fmt::format("{}/{}", nconv, e.size()), r.missed < 0 ? "-" : std::to_string(r.missed), sci(maxres),
                     sci(r.max_dlambda), l1, ratio("krylov-schur"), ratio("arnoldi-qr"), floor_ratio});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto left = [](std::size_t c) { return c == 0 || c == 3 || c == 4 || c == 12; };
  auto line = [&](const std::vector<std::string>& row) {
    std::string s = markdown ? "|" : "";
    for (std::size_t c = 0; c < row.size(); ++c) {
      s += markdown ? " " : (c ? "  " : "");
      s += left(c) ? fmt::format("{:<{}}", row[c], width[c]) : fmt::format("{:>{}}", row[c], width[c]);
      if (markdown) s += " |";
    }
    fmt::print("{}\n", s);
  };
  line(head);
  if (markdown) {
    std::string sep = "|";
    for (std::size_t c = 0; c < head.size(); ++c)
      sep += left(c) ? fmt::format(":{}|", std::string(width[c] + 1, '-')) : fmt::format("{}:|", std::string(width[c] + 1, '-'));
    fmt::print("{}\n", sep);
  }
  for (const auto& row : cells) line(row);
}

double nearest_distance(const cd& z, const Eigen::VectorXcd& set) {
  double d = std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < set.size(); ++j) d = std::min(d, std::abs(set(j) - z));
  return d;
}

/// missed, reference and max dlambda of the rows [first, end) of one shape and k (see the header).
void compare_rows(std::vector<Row>& rows, std::size_t first, std::int64_t k, Which which, double match_tol) {
  for (std::size_t i = first; i < rows.size(); ++i) {
    if (!rows[i].error.empty() || rows[i].is_floor || rows[i].result.size() == 0) continue;
    const auto& v = rows[i].result.values;
    const double last = which_key(v(v.size() - 1), which);
    std::vector<cd> missed;
    for (std::size_t o = first; o < rows.size(); ++o) {
      if (o == i || !rows[o].error.empty() || rows[o].is_floor) continue;
      const auto& e = rows[o].result;
      for (Eigen::Index j = 0; j < e.size(); ++j) {
        const cd z = e.values(j);
        const double tolz = match_tol * std::max(1.0, std::abs(z));
        if (j >= e.converged.size() || !e.converged(j) || which_key(z, which) <= last + tolz) continue;
        if (nearest_distance(z, v) <= tolz) continue;
        if (std::none_of(missed.begin(), missed.end(), [&](const cd& q) { return std::abs(q - z) <= tolz; }))
          missed.push_back(z);
      }
    }
    rows[i].missed = static_cast<int>(missed.size());
  }
  std::optional<std::size_t> ref;
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i = first; i < rows.size(); ++i) {
    const auto& e = rows[i].result;
    if (!rows[i].error.empty() || rows[i].is_floor || e.size() != k || !e.all_converged() || rows[i].missed > 0)
      continue;
    const double mr = e.residuals.maxCoeff();
    if (mr < best) best = mr, ref = i;
  }
  if (!ref) return;
  rows[*ref].reference = true;
  const Eigen::VectorXcd refv = rows[*ref].result.values;
  for (std::size_t i = first; i < rows.size(); ++i) {
    if (!rows[i].error.empty() || rows[i].is_floor) continue;
    double d = 0.0;
    for (Eigen::Index j = 0; j < rows[i].result.values.size(); ++j)
      d = std::max(d, nearest_distance(rows[i].result.values(j), refv));
    rows[i].max_dlambda = d;
  }
}

/// One line per shape and k: krylov-schur against the published method, the best row of each second
/// opinion, and the floor. "Best" is the fastest row that converged all k pairs and missed none; a method
/// with no such row is said so (its fastest row would compare an answer with a non-answer).
void print_summary(const std::vector<Row>& rows) {
  fmt::print("\n");
  auto ratio = [](double other, double ks) {
    return other >= ks ? fmt::format("{:.1f}x faster than", other / ks) : fmt::format("{:.1f}x slower than", ks / other);
  };
  for (const auto& r : rows) {
    if (r.method != "krylov-schur" || !r.error.empty()) continue;
    std::vector<std::string> parts;
    auto against = [&](const std::string& prefix, const char* what, bool certified_only) {
      const Row* best = nullptr;
      bool any = false;
      for (const auto& o : rows) {
        if (o.shape != r.shape || o.k != r.k || !o.error.empty() || o.method.rfind(prefix, 0) != 0) continue;
        any = true;
        if (certified_only && (!o.result.all_converged() || o.missed != 0)) continue;
        if (!best || o.seconds < best->seconds) best = &o;
      }
      if (best)
        parts.push_back(fmt::format("{} {} ({}, {:.2f} s{})", ratio(best->seconds, r.seconds), what, best->method,
                                    best->seconds, best->result.all_converged() ? "" : ", not all converged"));
      else if (any)
        parts.push_back(fmt::format("no {} row converged all {} pairs without a miss", prefix, r.k));
    };
    against("arnoldi-qr", "the published method", false);
    against("arpack", "the best certified arpack row", true);
    against("spectra", "the best certified spectra row", true);
    if (r.floor_per_matvec > 0)
      parts.push_back(fmt::format("{:.2f}x the floor ({} matvecs x {:.2f} ms dgemm)",
                                  r.seconds / (r.result.matvecs * r.floor_per_matvec), r.result.matvecs,
                                  1e3 * r.floor_per_matvec));
    fmt::print("# {} k={}: krylov-schur {:.2f} s{}; {}\n", r.shape, r.k, r.seconds,
               r.result.all_converged() ? "" : " (NOT all converged)", fmt::join(parts, "; "));
  }
}

SolveOptions solve_options(const std::string& method, const BenchArgs& a, std::int64_t k, Which which,
                           std::int64_t ncv) {
  SolveOptions o;
  const bool ks = method.rfind("krylov-schur", 0) == 0;
  o.method = ks ? Method::KrylovSchur : parse_method(method);
  o.common.k = k;
  o.common.ncv = ncv;
  o.common.which = which;
  o.common.tol = a.tol;
  o.common.max_restarts = a.max_restarts;
  o.common.seed = a.seed;
  o.krylov_schur.sstep = a.sstep;
  if (method == "krylov-schur-cgs2") o.krylov_schur.reorthogonalize = Reorthogonalization::Always;
  if (method == "krylov-schur-sstep1" || method == "krylov-schur-libtorch") o.krylov_schur.sstep = 1;
  o.arnoldi_qr.steps = a.steps;
  o.arnoldi_qr.qr_iters = a.qr_iters;
  return o;
}

Row run_row(const std::string& label, const std::string& method, const ConvOperator& op, const Shape& sh,
            std::int64_t k, const SolveOptions& so, const BenchArgs& a) {
  Row r;
  r.shape = sh.str();
  r.n = op.size();
  r.k = k;
  r.method = label;
  r.dtype = method == "arnoldi-qr" ? "float32" : "float64";
  r.seconds = std::numeric_limits<double>::infinity();
  for (int rep = 0; rep < a.repeat; ++rep) {
    try {
      const auto t0 = Clock::now();
      r.result = solve(op, so);
      r.seconds = std::min(r.seconds, seconds_since(t0));
    } catch (const Error& e) {  // bad options for this shape (e.g. k > n-2): a row, not the end
      r.error = e.what();
      break;
    }
  }
  fmt::print(stderr, "  {} k={} {}: {:.2f} s, {} matvecs{}\n", r.shape, k, label, r.seconds, r.result.matvecs,
             r.error.empty() ? "" : " (error: " + r.error + ")");
  return r;
}

void run_operators(const BenchArgs& a, Which which, std::vector<Row>& rows) {
  const auto shapes = parse_shapes(a.shapes);
  const auto methods = split(a.methods, ',');
  std::vector<std::int64_t> ks;
  for (const auto& s : split(a.ks, ',')) ks.push_back(parse_int(s, "--ks"));
  CONVDYN_CHECK(!ks.empty(), ValueError, "--ks: no k given");
  const c10::Device device = parse_device(a.device);
  for (std::size_t si = 0; si < shapes.size(); ++si) {
    const auto& sh = shapes[si];
    at::manual_seed(a.seed + 1000 + si);
    const at::Tensor w = at::randn({sh.c, sh.c, 3, 3}, at::kDouble) / std::sqrt(9.0 * double(sh.c));
    // krylov-schur and arnoldi-qr run on --device; Spectra and ARPACK are CPU-only adaptors.
    const ConvOperator op64(w, sh.h, sh.w, Padding::Zero, at::kDouble);
    const ConvOperator dev64(w, sh.h, sh.w, Padding::Zero, at::kDouble, device);
    const ConvOperator torch64(w, sh.h, sh.w, Padding::Zero, at::kDouble, device, ConvBackend::LibTorch);
    const ConvOperator op32(w, sh.h, sh.w, Padding::Zero, at::kFloat, device);
    const double floor = gemm_floor_seconds(sh);
    fmt::print(stderr, "  {}: dgemm floor {:.2f} ms per matvec\n", sh.str(), 1e3 * floor);
    for (const auto k : ks) {
      const std::size_t first = rows.size();
      for (const auto& m : methods) {
        if (m == "spectra" || m == "arpack") {
          std::vector<std::int64_t> done;  // rules that give the same ncv (small k) run once
          for (const auto& rule : split(a.ncvs, ',')) {
            const std::int64_t ncv = ncv_of(rule, k, op64.size());
            if (std::find(done.begin(), done.end(), ncv) != done.end()) continue;
            done.push_back(ncv);
            rows.push_back(run_row(fmt::format("{} ncv={}", m, ncv), m, op64, sh, k, solve_options(m, a, k, which, ncv), a));
          }
          continue;
        }
        const ConvOperator& op = m == "arnoldi-qr" ? op32 : m == "krylov-schur-libtorch" ? torch64 : dev64;
        rows.push_back(run_row(m, m, op, sh, k, solve_options(m, a, k, which, a.ncv), a));
      }
      for (std::size_t i = first; i < rows.size(); ++i) rows[i].floor_per_matvec = floor;
      for (std::size_t i = first; i < rows.size(); ++i)
        if (rows[i].method == "krylov-schur" && rows[i].error.empty()) {
          const std::int64_t mv = rows[i].result.matvecs;
          auto cost_row = [&](const std::string& name, double per_matvec) {
            Row f;
            f.shape = sh.str();
            f.n = op64.size();
            f.k = k;
            f.method = name;
            f.is_floor = true;
            f.floor_per_matvec = floor;
            f.result.matvecs = mv;
            f.seconds = per_matvec * double(mv);
            rows.push_back(f);
          };
          cost_row("floor", floor);
          if (device.is_cpu()) {
            cost_row("conv only", apply_seconds(dev64));
            cost_row("conv only (libtorch)", apply_seconds(torch64));
          }
          break;
        }
      compare_rows(rows, first, k, which, a.match_tol);
    }
  }
}

/// Matvecs of every solve of a stability report.
std::int64_t report_matvecs(const analysis::StabilityReport& rep) {
  std::int64_t mv = 0;
  for (const auto& a : rep.areas) {
    mv += a.linear.matvecs + a.largest.matvecs;
    for (const auto& f : a.fixed_points) mv += f.masked.matvecs + f.discrete.matvecs;
  }
  return mv;
}

void run_model_rows(const BenchArgs& a) {
  struct Variant {
    const char* name;
    std::int64_t sstep;
    ConvBackend backend;
  };
  std::vector<Variant> variants{{"krylov-schur", a.sstep, ConvBackend::Auto}};
  if (a.baseline) variants.push_back({"krylov-schur-libtorch", 1, ConvBackend::LibTorch});
  if (a.model == "r8") {
    const auto ck = apps::bench::synthetic_cordsnet(apps::bench::r8_areas(), a.seed + 2000, 1.0);
    const auto net = *model::detect_cordsnet(ck);
    for (const auto& v : variants) {
      analysis::SpectrumOptions so;
      so.solve.common.k = 10;
      so.solve.common.tol = a.tol;
      so.solve.krylov_schur.sstep = v.sstep;
      std::int64_t matvecs = 0;
      int converged = 0;
      const auto t0 = Clock::now();
      for (const auto& layer : net.layers) {
        const ConvOperator op(layer.weight, layer.height, layer.width, Padding::Zero, at::kDouble,
                              c10::Device(c10::kCPU), v.backend);
        const auto s = analysis::compute_spectrum(op, analysis::layer_info(layer, Padding::Zero, at::kDouble, op.device()), so);
        matvecs += s.result.matvecs;
        converged += s.result.all_converged();
        fmt::print(stderr, "  R8 {} {}: {:.2f} s, {} matvecs\n", v.name, layer.name, s.result.seconds, s.result.matvecs);
      }
      fmt::print("# model R8 (8 areas, k=10, LR, as `convdyn spectrum --all --k 10`), {}: {:.1f} s, {} matvecs, {}/8 "
                 "areas converged\n", v.name, seconds_since(t0), matvecs, converged);
    }
  } else if (!a.model.empty()) {
    throw ValueError(fmt::format("--model: unknown '{}' (r8)", a.model));
  }
  if (a.stability == "d4") {
    // Recurrent scale 0.8: a stable linear model, so that every fixed point is reached and analysed.
    const auto ck = apps::bench::synthetic_cordsnet(apps::bench::release_depth4_areas(), a.seed + 3000, 0.8);
    const auto net = *model::detect_cordsnet(ck);
    at::manual_seed(a.seed + 3001);
    const at::Tensor image = at::rand({1, 3, 224, 224}, at::kDouble);
    for (const auto& v : variants) {
      analysis::StabilityOptions so;
      so.tol = a.tol;
      so.krylov_schur.sstep = v.sstep;
      so.conv_backend = v.backend;
      const auto t0 = Clock::now();
      const auto rep = analysis::analyse_stability(ck, net, image, so);
      fmt::print("# stability, depth-4 CordsNet at the release's sizes (64x56x56, 64x56x56, 128x28x28, 128x28x28), "
                 "one image, {}: {:.1f} s, {} matvecs in the eigensolves, model {}\n",
                 v.name, seconds_since(t0), report_matvecs(rep), analysis::to_string(rep.verdict));
    }
  } else if (!a.stability.empty()) {
    throw ValueError(fmt::format("--stability: unknown '{}' (d4)", a.stability));
  }
}

/// Runs `cmd` (a shell command line) and returns the images/s of its last line "images_per_second X ..." (NaN when
/// it failed), with that line (or the failure) in `line`.
double python_images_per_second(const std::string& cmd, std::string& line) {
  line.clear();
  double v = std::numeric_limits<double>::quiet_NaN();
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) line = buf;
    if (pclose(p) == 0 && line.rfind("images_per_second ", 0) == 0) v = std::stod(line.substr(18));
  }
  if (line.empty()) line = "no output";
  return v;
}

void print_throughput(const std::string& title, double ours, double seconds, double theirs, const std::string& cmd,
                      const std::string& line, std::int64_t n) {
  fmt::print("{}\n| method | images/s | seconds | ratio to python torch |\n|---|---|---|---|\n", title);
  fmt::print("| convdyn run | {:.2f} | {:.3f} | {} |\n", ours, seconds,
             std::isfinite(theirs) ? fmt::format("{:.2f}", ours / theirs) : "-");
  if (std::isfinite(theirs))
    fmt::print("| python torch | {:.2f} | {:.3f} | 1.00 |\n", theirs, static_cast<double>(n) / theirs);
  else
    fmt::print("| python torch | - | - | - |  (`{}` failed: {})\n", cmd, line);
}

/// `convdyn run` on zoo-shaped networks of the zoo's real sizes (224x224 images, the zoo's channels, random
/// weights written by scripts/bench_zoo_torch.py --make into a temporary folder), float32, the zoo's default
/// presentation, next to the same forward pass in Python torch (scripts/bench_zoo_torch.py --run).
void run_zoo_throughput_rows(const BenchArgs& a) {
  if (a.run_zoo.empty()) return;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("convdyn-bench-zoo-{}", ::getpid());
  fs::create_directories(dir);
  for (const auto& name : split(a.run_zoo, ',')) {
    const std::string prefix = (dir / name / "model.ckpt").string();
    fs::create_directories(dir / name);
    std::string line;
    const std::string make = fmt::format("{} scripts/bench_zoo_torch.py --make '{}' --model {} > /dev/null", a.python,
                                         prefix, name);
    if (std::system(make.c_str()) != 0) {
      fmt::print("# run-zoo {}: `{}` failed\n", name, make);
      continue;
    }
    model::ConvRNNNetworkOptions no;
    no.dtype = at::kFloat;
    const model::ConvRNNNetwork net(model::load_checkpoint(prefix), no);
    at::manual_seed(a.seed + 4000);
    const auto pixels = at::rand({a.run_n, 3, 224, 224}, at::kDouble);
    const auto images = analysis::prepare_zoo_images(name, pixels, {}, {}, false, nullptr).to(at::kFloat);
    analysis::RunOptions opt;
    opt.batch = a.run_batch;
    const auto plan = analysis::plan_zoo_run(net, images.sizes(), opt, prefix);
    double best = std::numeric_limits<double>::infinity();
    for (int r = 0; r < a.repeat; ++r) {
      const auto t0 = Clock::now();
      analysis::run_zoo(net, images, plan, opt, [](const analysis::RunBatch&) {});
      best = std::min(best, seconds_since(t0));
    }
    const std::string cmd = fmt::format("{} scripts/bench_zoo_torch.py --run '{}' --n {} --batch {} --threads {} "
                                        "--repeat {}", a.python, prefix, a.run_n, plan.batch, at::get_num_threads(),
                                        a.repeat);
    const double theirs = python_images_per_second(cmd, line);
    print_throughput(fmt::format("# run-zoo {} (zoo-shaped, 224x224, {}, float32, batch {}, {} images, {} threads):",
                                 name, plan.protocol, plan.batch, a.run_n, at::get_num_threads()),
                     static_cast<double>(a.run_n) / best, best, theirs, cmd, line, a.run_n);
    std::fflush(stdout);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

/// `convdyn run`'s throughput on a CordsNet checkpoint and --run-images (repeated up to --run-n), float32, the
/// release's protocol, no recordings; next to scripts/bench_run_torch.py (the same forward pass in Python torch,
/// same threads) started from here, and their ratio.
void run_throughput_rows(const BenchArgs& a) {
  if (a.run.empty()) return;
  const model::CordsNet net(model::load_checkpoint(a.run), at::kFloat);
  at::Tensor imgs = model::read_images(a.run_images);
  const auto reps = (a.run_n + imgs.size(0) - 1) / imgs.size(0);
  imgs = imgs.repeat({reps, 1, 1, 1}).narrow(0, 0, a.run_n).contiguous();
  analysis::RunOptions opt;
  opt.batch = a.run_batch;
  const auto plan = analysis::plan_cordsnet_run(net, imgs.sizes(), opt);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < a.repeat; ++r) {
    const auto t0 = Clock::now();
    analysis::run_cordsnet(net, imgs, plan, opt, [](const analysis::RunBatch&) {});
    best = std::min(best, seconds_since(t0));
  }
  const double ours = static_cast<double>(a.run_n) / best;
  const std::string cmd = fmt::format("{} scripts/bench_run_torch.py '{}' '{}' --n {} --batch {} --threads {} --repeat {}",
                                      a.python, a.run, a.run_images, a.run_n, plan.batch, at::get_num_threads(), a.repeat);
  std::string line;
  const double theirs = python_images_per_second(cmd, line);
  print_throughput(fmt::format("# run {} (CordsNet depth {}, images {}x{}x{}, {}, float32, batch {}, {} images, {} "
                               "threads):", a.run, net.depth(), imgs.size(1), imgs.size(2), imgs.size(3),
                               plan.protocol, plan.batch, a.run_n, at::get_num_threads()),
                   ours, best, theirs, cmd, line, a.run_n);
}

int run_bench(const BenchArgs& a) {
  if (a.threads > 0) at::set_num_threads(a.threads);
  const auto methods = split(a.methods, ',');
  CONVDYN_CHECK(!methods.empty() || a.no_operators, ValueError, "--methods: no method given");
  const std::vector<std::string> known = split(kMethodList, ',');
  for (const auto& m : methods)
    CONVDYN_CHECK(std::any_of(known.begin(), known.end(), [&](const std::string& x) { return trim(x) == m; }),
                  ValueError, "--methods: unknown method '{}' ({})", m, kMethodList);
  CONVDYN_CHECK(a.match_tol > 0.0, ValueError, "--match-tol {} must be > 0", a.match_tol);
  CONVDYN_CHECK(a.repeat >= 1, ValueError, "--repeat {} must be >= 1", a.repeat);
  const Which which = parse_which(a.which);

  fmt::print("{}\n", machine_line());
  fmt::print("# ks={} which={} tol={:g} ncv={} sstep={} max_restarts={} second opinions ncv {}; arnoldi-qr: steps={} "
             "qr_iters={} float32; seed={} repeat={} (min seconds)\n",
             a.ks, a.which, a.tol, a.ncv == 0 ? std::string("auto") : std::to_string(a.ncv),
             a.sstep == 0 ? std::string("auto") : std::to_string(a.sstep), a.max_restarts, a.ncvs, a.steps, a.qr_iters,
             a.seed, a.repeat);
  std::fflush(stdout);
  std::vector<Row> rows;
  if (!a.no_operators) {
    run_operators(a, which, rows);
    print_table(rows, a.markdown);
    print_summary(rows);
    if (a.values)
      for (const auto& r : rows) {
        if (r.is_floor) continue;
        fmt::print("# values {} k={} {}:", r.shape, r.k, r.method);
        for (Eigen::Index i = 0; i < r.result.size(); ++i)
          fmt::print(" {:.10f}{:+.10f}i", r.result.values(i).real(), r.result.values(i).imag());
        fmt::print("\n");
      }
  }
  std::fflush(stdout);
  run_model_rows(a);
  std::fflush(stdout);
  run_throughput_rows(a);
  std::fflush(stdout);
  run_zoo_throughput_rows(a);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  convdyn::apps::keep_freed_memory();
  BenchArgs a;
  CLI::App app{"convdyn-bench: the eigensolvers side by side on random conv operators of the CordsNet R8 shapes\n"
               "(weights ~ randn/sqrt(9C), zero padding), with the conv's dgemm floor, and whole-model rows.\n"
               "See apps/bench/main.cpp and the README's Benchmark section."};
  app.add_option("--shapes", a.shapes, "comma-separated CxHxW")->capture_default_str();
  app.add_option("--methods", a.methods, std::string("comma-separated: ") + kMethodList)->capture_default_str();
  app.add_option("--ks", a.ks, "comma-separated k (eigenvalues per method), e.g. 1,6,20")->capture_default_str();
  app.add_option("--ncvs", a.ncvs, "subspace sizes of the spectra and arpack rows: rules like 2k+1, 3k, 4k, or numbers")
      ->capture_default_str();
  app.add_option("--match-tol", a.match_tol,
                 "values closer than this (relative to max(1, |lambda|)) are the same eigenvalue when counting missed "
                 "ones")
      ->capture_default_str();
  app.add_option("--which", a.which, "LM, LR, SR, SM or LI")->capture_default_str();
  app.add_option("--tol", a.tol, "residual <= tol * max(1, |lambda|) counts as converged")->capture_default_str();
  app.add_option("--repeat", a.repeat, "runs per method; the minimum time is reported")->capture_default_str();
  app.add_option("--ncv", a.ncv, "krylov-schur subspace size (0 = auto)")->capture_default_str();
  app.add_option("--sstep", a.sstep, "krylov-schur: vectors per block Gram-Schmidt (0 = automatic, 1 = one at a time)")
      ->capture_default_str();
  app.add_option("--max-restarts", a.max_restarts, "restart limit of the iterative methods")->capture_default_str();
  app.add_option("--steps", a.steps, "arnoldi-qr Arnoldi steps")->capture_default_str();
  app.add_option("--qr-iters", a.qr_iters, "arnoldi-qr unshifted QR iterations")->capture_default_str();
  app.add_option("--seed", a.seed, "added to the weights' and start vectors' seeds")->capture_default_str();
  app.add_option("--device", a.device,
                 "cpu, cuda or cuda:N for krylov-schur and arnoldi-qr (Spectra/ARPACK run on the CPU); needs a "
                 "CUDA LibTorch")
      ->capture_default_str();
  app.add_option("--model", a.model, "r8: the whole R8-shaped model (8 areas, k = 10), as `convdyn spectrum --all`");
  app.add_option("--stability", a.stability,
                 "d4: `convdyn stability` on a depth-4 CordsNet of the release's sizes with one image");
  app.add_option("--run", a.run,
                 "a CordsNet checkpoint (e.g. apps/demo/cordsnet_fmnist_d4.pth): images per second of `convdyn run` "
                 "next to the same forward pass in Python torch (scripts/bench_run_torch.py, run from the repository "
                 "root)");
  app.add_option("--run-images", a.run_images, "--run: the image file (repeated up to --run-n images)")
      ->capture_default_str();
  app.add_option("--run-n", a.run_n, "--run: images per timing")->capture_default_str();
  app.add_option("--run-batch", a.run_batch, "--run: images per batch")->capture_default_str();
  app.add_option("--run-zoo", a.run_zoo,
                 "comma-separated zoo-shaped models at the zoo's sizes (gru_shallow, ugrnn_intermediate, "
                 "rgc_intermediate): images per second of `convdyn run` next to Python torch "
                 "(scripts/bench_zoo_torch.py, from the repository root); --run-n images, --run-batch");
  app.add_option("--python", a.python, "--run, --run-zoo: the interpreter with torch")->capture_default_str();
  app.add_flag("--baseline", a.baseline, "--model/--stability also with the solver as it was (LibTorch conv, sstep 1)");
  app.add_flag("--no-operators", a.no_operators, "skip the per-operator table (only --model/--stability rows)");
  app.add_option("--threads", a.threads, "LibTorch intra-op threads (0 = LibTorch's default)")->capture_default_str();
  app.add_flag("--markdown", a.markdown, "print the table as markdown");
  app.add_flag("--values", a.values, "after the table, print every method's eigenvalues (one line each)");
  try {
    app.parse(argc, argv);
    return run_bench(a);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "convdyn-bench: error: {}\n", e.what());
    return 2;
  }
}
