// convdyn-bench: the eigensolvers side by side on synthetic operators of the CordsNet R8 shapes.
//
// Operators. For each shape C x H x W (default: the four R8 recurrent layers 64x56x56, 128x28x28,
// 256x14x14, 512x7x7) a random 3x3 kernel w[C, C, 3, 3] ~ randn / sqrt(9 C) (fixed seed, --seed) is
// wrapped as a zero-padded ConvOperator. This is the variance-preserving ("fan-in") scale of a trained
// layer: every output sums 9C inputs with weights of variance 1/(9C), so for circular padding each
// Fourier block is a C x C matrix with i.i.d. entries of variance 1/C and, by the circular law, the
// spectral radius is ~1 (zero padding only lowers it at the borders): eigenvalues near Re = 1, where the
// stability question of CordsNet lives. The same weights are used for a float64 and a float32 operator.
//
// Methods (--methods, in this order; one process, one operator per dtype and shape):
//   krylov-schur  linalg/solvers/krylov_schur.hpp, float64, auto subspace (m = max(4k, k+40), grown once by half
//                 when convergence stalls), Gram–Schmidt with reorthogonalization if needed (the defaults)
//   krylov-schur-cgs2  the same with a second Gram–Schmidt pass for every vector (--reorth always; not run
//                 by default: it shows what the single pass saves)
//   spectra       linalg/solvers/spectra_eigs.hpp (Spectra GenEigsSolver), float64, auto ncv = max(2k+1, k+20)
//                 (the usual default: scipy's eigs uses 2k+1)
//   arpack        linalg/solvers/arpack_eigs.hpp (dnaupd/dneupd), float64, same ncv
//   arnoldi-qr    linalg/solvers/arnoldi_qr.hpp, the published CordsNet method: float32 operator, --steps 300,
//                 --qr-iters 5000 (its cost is dominated by the QR iterations, independent of n)
// All get the same k, which and tol; every method's residuals are TRUE residuals ||A v - lambda v||
// (||v|| = 1) computed through the operator, and "conv" counts residual <= tol * max(1, |lambda|).
//
// Output (stdout): a header line (date, LibTorch threads, BLAS, CPU), then one row per shape and method:
//   shape, n, method, dtype, seconds (minimum over --repeat runs), matvecs (operator applications,
//   residual check included), restarts, conv/k, max residual, max dlambda = max over the method's
//   values of the distance to the nearest reference value, lambda_1 (the first value in `which` order),
//   t/KS and t/AQR (seconds relative to krylov-schur and arnoldi-qr of the same shape; < 1 is faster).
// missed = how many values some other method converged to (flag set) rank strictly before this
// method's last value in `which` order yet are absent from its values: an eigenvalue this method skipped.
// Two values are the same eigenvalue when they differ by <= --match-tol * max(1, |lambda|) (default 1e-6):
// with residuals <= 1e-10, eigenvalues of these non-normal operators still differ by up to ~1e-8 between
// methods (eigenvalue condition numbers ~100), while distinct eigenvalues are >= ~1e-4 apart.
// The reference (marked "*") is the method, among those with all k pairs converged and nothing missed,
// with the smallest max residual; without one, max dlambda is "-". --markdown prints the table as markdown; --values then
// prints each method's eigenvalues on a "# values <shape> <method>:" line.
// Progress lines go to stderr.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/allocator.hpp"
#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/operators/conv_operator.hpp"
#include "linalg/solvers/solve.hpp"

namespace {
using namespace convdyn;
using namespace convdyn::linalg;
using cd = std::complex<double>;

constexpr const char* kMethodList = "krylov-schur, krylov-schur-cgs2, spectra, arpack, arnoldi-qr";

struct BenchArgs {
  std::string shapes = "64x56x56,128x28x28,256x14x14,512x7x7";
  std::string methods = "krylov-schur,spectra,arpack,arnoldi-qr";
  std::int64_t k = 20;
  std::string which = "LR";
  std::string device = "cpu";
  double tol = 1e-10;
  double match_tol = 1e-6;
  int repeat = 1;
  std::int64_t ncv = 0;
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

std::vector<Shape> parse_shapes(const std::string& s) {
  std::vector<Shape> out;
  for (const auto& item : split(s, ',')) {
    const auto parts = split(item, 'x');
    CONVDYN_CHECK(parts.size() == 3, ValueError, "--shapes: '{}' is not CxHxW (e.g. 64x56x56)", item);
    Shape sh{};
    try {
      sh = {std::stoll(parts[0]), std::stoll(parts[1]), std::stoll(parts[2])};
    } catch (const std::exception&) {
      throw ValueError(fmt::format("--shapes: '{}' is not CxHxW with integers", item));
    }
    CONVDYN_CHECK(sh.c > 0 && sh.h > 0 && sh.w > 0, ValueError, "--shapes: '{}' must be positive", item);
    out.push_back(sh);
  }
  CONVDYN_CHECK(!out.empty(), ValueError, "--shapes: no shape given");
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string machine_line() {
  // BLAS: LibTorch's build-time BLAS_INFO, and the libblas.so.3 the system alternatives point to.
  std::string blas_info = "?";
  const std::string cfg = at::show_config();
  if (const auto p = cfg.find("BLAS_INFO="); p != std::string::npos)
    blas_info = cfg.substr(p + 10, cfg.find_first_of(", \n", p + 10) - (p + 10));
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
  return fmt::format("# convdyn-bench {} | torch threads {} | BLAS_INFO={} libblas.so.3 -> {} | CPU {} x{}",
                     date, at::get_num_threads(), blas_info, libblas, cpu, std::thread::hardware_concurrency());
}

struct Row {
  Shape shape;
  std::int64_t n = 0;
  std::string method, dtype;
  EigResult result;
  double seconds = 0.0;
  std::string error;  // set when the method threw
  bool reference = false;
  double max_dlambda = std::numeric_limits<double>::quiet_NaN();
  int missed = -1;  // values other methods converged to that belong in this top-k but are absent; -1: n/a
};


// A bench row's solver: the registry's method (linalg::solve, as `convdyn spectrum` runs it) with the bench's
// common options; "krylov-schur-cgs2" is krylov-schur with --reorth always.
SolveOptions solve_options(const std::string& label, const BenchArgs& a, Which which) {
  SolveOptions o;
  o.method = parse_method(label == "krylov-schur-cgs2" ? "krylov-schur" : label);
  o.common.k = a.k;
  o.common.ncv = a.ncv;
  o.common.which = which;
  o.common.tol = a.tol;
  o.common.max_restarts = a.max_restarts;
  o.common.seed = a.seed;
  if (label == "krylov-schur-cgs2") o.krylov_schur.reorthogonalize = Reorthogonalization::Always;
  o.arnoldi_qr.steps = a.steps;
  o.arnoldi_qr.qr_iters = a.qr_iters;
  return o;
}

double nearest_distance(const cd& z, const Eigen::VectorXcd& set) {
  double d = std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < set.size(); ++j) d = std::min(d, std::abs(set(j) - z));
  return d;
}

std::string sci(double v) { return std::isfinite(v) ? fmt::format("{:.1e}", v) : (std::isnan(v) ? "-" : "inf"); }

void print_table(const std::vector<Row>& rows, bool markdown) {
  const std::vector<std::string> head = {"shape", "n",     "method",    "dtype",       "seconds", "matvecs", "restarts",
                                         "conv/k", "missed", "max resid", "max dlambda", "lambda_1", "t/KS",    "t/AQR"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    const auto& e = r.result;
    auto ratio = [&](const std::string& base) -> std::string {
      for (const auto& o : rows)
        if (o.shape.str() == r.shape.str() && o.method == base && o.error.empty() && o.seconds > 0)
          return fmt::format("{:.2f}", r.seconds / o.seconds);
      return "-";
    };
    if (!r.error.empty()) {
      cells.push_back({r.shape.str(), std::to_string(r.n), r.method, r.dtype, "error: " + r.error, "", "", "", "", "",
                       "", "", "", ""});
      continue;
    }
    Eigen::Index nconv = 0;
    for (Eigen::Index i = 0; i < e.converged.size(); ++i) nconv += e.converged(i);
    const double maxres = e.residuals.size() ? e.residuals.maxCoeff() : std::numeric_limits<double>::quiet_NaN();
    const std::string l1 = e.size() ? fmt::format("{:.6f}{:+.6f}i", e.values(0).real(), e.values(0).imag()) : "-";
    cells.push_back({r.shape.str(), std::to_string(r.n), r.method + (r.reference ? "*" : ""), r.dtype,
                     fmt::format("{:.2f}", r.seconds), std::to_string(e.matvecs), std::to_string(e.restarts),
                     fmt::format("{}/{}", nconv, e.size()), r.missed < 0 ? "-" : std::to_string(r.missed), sci(maxres), sci(r.max_dlambda), l1, ratio("krylov-schur"),
                     ratio("arnoldi-qr")});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& row : cells) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string s = markdown ? "|" : "";
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool left = c == 0 || c == 2 || c == 3 || c == 11;
      s += markdown ? " " : (c ? "  " : "");
      s += left ? fmt::format("{:<{}}", row[c], width[c]) : fmt::format("{:>{}}", row[c], width[c]);
      if (markdown) s += " |";
    }
    fmt::print("{}\n", s);
  };
  line(head);
  if (markdown) {
    std::string sep = "|";
    for (std::size_t c = 0; c < head.size(); ++c) {
      const bool left = c == 0 || c == 2 || c == 3 || c == 11;
      sep += left ? fmt::format(":{}|", std::string(width[c] + 1, '-')) : fmt::format("{}:|", std::string(width[c] + 1, '-'));
    }
    fmt::print("{}\n", sep);
  }
  for (const auto& row : cells) line(row);
}

int run_bench(const BenchArgs& a) {
  if (a.threads > 0) at::set_num_threads(a.threads);
  const auto shapes = parse_shapes(a.shapes);
  const auto methods = split(a.methods, ',');
  CONVDYN_CHECK(!methods.empty(), ValueError, "--methods: no method given");
  const auto names = method_names();
  for (const auto& m : methods)
    CONVDYN_CHECK(m == "krylov-schur-cgs2" || (m != "dense" && std::count(names.begin(), names.end(), m)),
                  ValueError, "--methods: unknown method '{}' ({})", m, kMethodList);
  CONVDYN_CHECK(a.match_tol > 0.0, ValueError, "--match-tol {} must be > 0", a.match_tol);
  CONVDYN_CHECK(a.repeat >= 1, ValueError, "--repeat {} must be >= 1", a.repeat);
  const Which which = parse_which(a.which);

  fmt::print("{}\n", machine_line());
  fmt::print("# k={} which={} tol={:g} ncv={} max_restarts={} arnoldi-qr: steps={} qr_iters={} float32; seed={} "
             "repeat={} (min seconds)\n",
             a.k, a.which, a.tol, a.ncv == 0 ? std::string("auto") : std::to_string(a.ncv), a.max_restarts, a.steps,
             a.qr_iters, a.seed, a.repeat);
  std::fflush(stdout);

  const c10::Device device = linalg::parse_device(a.device);
  std::vector<Row> rows;
  for (std::size_t si = 0; si < shapes.size(); ++si) {
    const auto& sh = shapes[si];
    at::manual_seed(a.seed + 1000 + si);
    const at::Tensor w = at::randn({sh.c, sh.c, 3, 3}, at::kDouble) / std::sqrt(9.0 * double(sh.c));
    // krylov-schur and arnoldi-qr run on --device; the Spectra and ARPACK adaptors are CPU-only.
    const ConvOperator op64(w, sh.h, sh.w, Padding::Zero, at::kDouble);
    const ConvOperator op32(w, sh.h, sh.w, Padding::Zero, at::kFloat, device);
    const ConvOperator dev64(w, sh.h, sh.w, Padding::Zero, at::kDouble, device);
    const std::size_t first = rows.size();
    for (const auto& m : methods) {
      Row r;
      r.shape = sh;
      r.n = op64.size();
      r.method = m;
      r.dtype = m == "arnoldi-qr" ? "float32" : "float64";
      r.seconds = std::numeric_limits<double>::infinity();
      for (int rep = 0; rep < a.repeat; ++rep) {
        try {
          const auto t0 = std::chrono::steady_clock::now();
          const ConvOperator& op = m == "arnoldi-qr" ? op32 : m.rfind("krylov-schur", 0) == 0 ? dev64 : op64;
          r.result = solve(op, solve_options(m, a, which));
          r.seconds = std::min(r.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } catch (const Error& e) {  // bad options for this shape (e.g. k > n-2): a row, not the end
          r.error = e.what();
          break;
        }
      }
      fmt::print(stderr, "  {} {}: {:.2f} s, {} matvecs{}\n", sh.str(), m, r.seconds, r.result.matvecs,
                 r.error.empty() ? "" : " (error: " + r.error + ")");
      rows.push_back(std::move(r));
    }
    // Missed: a value another method converged to (its own flag set) that ranks strictly before this
    // method's last value in `which` order but is not among this method's values.
    for (std::size_t i = first; i < rows.size(); ++i) {
      if (!rows[i].error.empty() || rows[i].result.size() == 0) continue;
      const auto& v = rows[i].result.values;
      const double last = which_key(v(v.size() - 1), which);
      std::vector<cd> missed;
      for (std::size_t o = first; o < rows.size(); ++o) {
        if (o == i || !rows[o].error.empty()) continue;
        const auto& e = rows[o].result;
        for (Eigen::Index j = 0; j < e.size(); ++j) {
          const cd z = e.values(j);
          const double tolz = a.match_tol * std::max(1.0, std::abs(z));
          if (j >= e.converged.size() || !e.converged(j) || which_key(z, which) <= last + tolz) continue;
          if (nearest_distance(z, v) <= tolz) continue;
          if (std::none_of(missed.begin(), missed.end(), [&](const cd& q) { return std::abs(q - z) <= tolz; }))
            missed.push_back(z);
        }
      }
      rows[i].missed = static_cast<int>(missed.size());
    }
    // Reference: all k converged and nothing missed, then the smallest max residual.
    std::optional<std::size_t> ref;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t i = first; i < rows.size(); ++i) {
      const auto& e = rows[i].result;
      if (!rows[i].error.empty() || e.size() != a.k || !e.all_converged() || rows[i].missed > 0) continue;
      const double mr = e.residuals.maxCoeff();
      if (mr < best) best = mr, ref = i;
    }
    if (ref) {
      rows[*ref].reference = true;
      const Eigen::VectorXcd refv = rows[*ref].result.values;
      for (std::size_t i = first; i < rows.size(); ++i) {
        if (!rows[i].error.empty()) continue;
        double d = 0.0;
        const auto& v = rows[i].result.values;
        for (Eigen::Index j = 0; j < v.size(); ++j) d = std::max(d, nearest_distance(v(j), refv));
        rows[i].max_dlambda = d;
      }
    }
  }
  print_table(rows, a.markdown);
  if (a.values)
    for (const auto& r : rows) {
      fmt::print("# values {} {}:", r.shape.str(), r.method);
      for (Eigen::Index i = 0; i < r.result.size(); ++i)
        fmt::print(" {:.10f}{:+.10f}i", r.result.values(i).real(), r.result.values(i).imag());
      fmt::print("\n");
    }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  convdyn::apps::keep_freed_memory();
  BenchArgs a;
  CLI::App app{"convdyn-bench: krylov-schur, spectra, arpack and the published arnoldi-qr method on random conv\n"
               "operators of the CordsNet R8 shapes (weights ~ randn/sqrt(9C), zero padding). See apps/bench.cpp."};
  app.add_option("--shapes", a.shapes, "comma-separated CxHxW")->capture_default_str();
  app.add_option("--methods", a.methods, std::string("comma-separated: ") + kMethodList)->capture_default_str();
  app.add_option("--match-tol", a.match_tol,
                 "values closer than this (relative to max(1, |lambda|)) are the same eigenvalue when counting missed "
                 "ones")
      ->capture_default_str();
  app.add_option("--k", a.k, "eigenvalues per method")->capture_default_str();
  app.add_option("--which", a.which, "LM, LR, SR, SM or LI")->capture_default_str();
  app.add_option("--tol", a.tol, "residual <= tol * max(1, |lambda|) counts as converged")->capture_default_str();
  app.add_option("--repeat", a.repeat, "runs per method; the minimum time is reported")->capture_default_str();
  app.add_option("--ncv", a.ncv, "subspace size for krylov-schur/spectra/arpack (0 = auto)")->capture_default_str();
  app.add_option("--max-restarts", a.max_restarts, "restart limit of the iterative methods")->capture_default_str();
  app.add_option("--steps", a.steps, "arnoldi-qr Arnoldi steps")->capture_default_str();
  app.add_option("--qr-iters", a.qr_iters, "arnoldi-qr unshifted QR iterations")->capture_default_str();
  app.add_option("--seed", a.seed, "weights and start vectors")->capture_default_str();
  app.add_option("--device", a.device,
                 "cpu, cuda or cuda:N for krylov-schur and arnoldi-qr (Spectra/ARPACK run on the CPU); needs a "
                 "CUDA LibTorch")
      ->capture_default_str();
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
