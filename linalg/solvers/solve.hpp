// One entry point for every spectrum method, and the one list of their names: the registry that the CLI,
// the analyses and the bench share.
#pragma once
#include <string>
#include <vector>

#include "linalg/eig_result.hpp"
#include "linalg/linear_operator.hpp"
#include "linalg/solvers/arnoldi_qr.hpp"
#include "linalg/solvers/dense_eig.hpp"
#include "linalg/solvers/eig_options.hpp"
#include "linalg/solvers/krylov_schur.hpp"

namespace convdyn::linalg {

enum class Method {
  KrylovSchur,  ///< restarted Arnoldi with Krylov–Schur restarts: matrix-free, any n, certified (default)
  Dense,        ///< the materialised matrix's full eigendecomposition (ground truth for small n)
  Spectra,      ///< Spectra's GenEigsSolver (second opinion)
  Arpack,       ///< ARPACK's dnaupd (second opinion)
  ArnoldiQr,    ///< the published CordsNet method (fixed budget, no convergence test)
};

/// Every method, in the order help texts list them.
const std::vector<Method>& all_methods();
/// "krylov-schur", "dense", "spectra", "arpack", "arnoldi-qr".
const char* to_string(Method m);
std::vector<std::string> method_names();
/// The method called `s`; ValueError listing the names otherwise.
Method parse_method(const std::string& s);

/// Everything `solve` needs: the method, the common block and each method's extras (only the chosen
/// method's are read).
struct SolveOptions {
  Method method = Method::KrylovSchur;
  EigOptions common;             ///< k = 0 means all eigenvalues (dense only)
  KrylovSchurExtras krylov_schur;
  ArnoldiQrExtras arnoldi_qr;
  std::int64_t max_dense_n = 6000;  ///< dense on the CPU: refuse larger n (DenseEigOptions::max_n)
  int dense_cuda_device = -1;       ///< dense: >= 0 solves on that CUDA device (cuSOLVER)
};

/// The spectrum of `op` by `opt.method`. Throws ValueError for invalid options (each method's messages; k = 0
/// with an iterative method says to use the dense one).
EigResult solve(const LinearOperator& op, const SolveOptions& opt);

}  // namespace convdyn::linalg
