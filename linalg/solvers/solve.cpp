#include "linalg/solvers/solve.hpp"

#include <fmt/format.h>

#include "linalg/error.hpp"
#include "linalg/solvers/arpack_eigs.hpp"
#include "linalg/solvers/spectra_eigs.hpp"

namespace convdyn::linalg {

const std::vector<Method>& all_methods() {
  static const std::vector<Method> methods{Method::KrylovSchur, Method::Dense, Method::Spectra, Method::Arpack,
                                           Method::ArnoldiQr};
  return methods;
}

const char* to_string(Method m) {
  switch (m) {
    case Method::KrylovSchur: return "krylov-schur";
    case Method::Dense: return "dense";
    case Method::Spectra: return "spectra";
    case Method::Arpack: return "arpack";
    case Method::ArnoldiQr: return "arnoldi-qr";
  }
  return "?";
}

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const auto m : all_methods()) out.emplace_back(to_string(m));
  return out;
}

Method parse_method(const std::string& s) {
  for (const auto m : all_methods())
    if (s == to_string(m)) return m;
  throw ValueError(fmt::format("unknown --method '{}' (available: {})", s, fmt::join(method_names(), ", ")));
}

namespace {
/// A method's options struct from the common block and its extras.
template <class Options, class... Extras>
Options combine(const EigOptions& common, const Extras&... extras) {
  Options o;
  static_cast<EigOptions&>(o) = common;
  ((static_cast<Extras&>(o) = extras), ...);
  return o;
}
}  // namespace

EigResult solve(const LinearOperator& op, const SolveOptions& opt) {
  const EigOptions& c = opt.common;
  CONVDYN_CHECK(c.k >= 0, ValueError, "k={} must be >= 0 (0 = all eigenvalues, dense method only)", c.k);
  CONVDYN_CHECK(c.k >= 1 || opt.method == Method::Dense, ValueError,
                "k=0 (all eigenvalues) needs the dense method, not {}", to_string(opt.method));
  switch (opt.method) {
    case Method::Dense: {
      DenseEigOptions d;
      d.which = c.which;
      d.k = c.k;
      d.vectors = c.vectors;
      d.max_n = opt.max_dense_n;
      d.cuda_device = opt.dense_cuda_device;
      return dense_eig(op, d);
    }
    case Method::KrylovSchur: return krylov_schur(op, combine<KrylovSchurOptions>(c, opt.krylov_schur));
    case Method::Spectra: return spectra_eigs(op, combine<SpectraOptions>(c));
    case Method::Arpack: return arpack_eigs(op, combine<ArpackOptions>(c));
    case Method::ArnoldiQr: return arnoldi_qr(op, combine<ArnoldiQrOptions>(c, opt.arnoldi_qr));
  }
  throw InternalError("solve: unknown method");
}

}  // namespace convdyn::linalg
