#include "linalg/solvers/arpack_eigs.hpp"

#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>
#include <arpack/arpackdef.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "linalg/error.hpp"
#include "linalg/detail/eigen_tensor.hpp"
#include "linalg/detail/random.hpp"
#include "linalg/solvers/detail/ritz_pairs.hpp"

// arpack-ng's ISO C bindings (declared here: <arpack/arpack.h> also declares the complex variants with
// C99 `_Complex`, which is not C++).
extern "C" {
void dnaupd_c(a_int* ido, char const* bmat, a_int n, char const* which, a_int nev, double tol, double* resid,
              a_int ncv, double* v, a_int ldv, a_int* iparam, a_int* ipntr, double* workd, double* workl,
              a_int lworkl, a_int* info);
void dneupd_c(a_int rvec, char const* howmny, a_int const* select, double* dr, double* di, double* z, a_int ldz,
              double sigmar, double sigmai, double* workev, char const* bmat, a_int n, char const* which,
              a_int nev, double tol, double* resid, a_int ncv, double* v, a_int ldv, a_int* iparam,
              a_int* ipntr, double* workd, double* workl, a_int lworkl, a_int* info);
}

namespace convdyn::linalg {

namespace {
using Eigen::Index;
using cd = std::complex<double>;
}  // namespace

std::string arpack_info_message(const char* routine, int info) {
  const bool neupd = std::strcmp(routine, "dneupd") == 0;
  switch (info) {
    case 0: return "normal exit";
    case 1:
      return neupd ? "the Schur form computed by LAPACK dlahqr could not be reordered by LAPACK dtrsen"
                   : "maximum number of iterations taken";
    case 2: return "no shifts could be applied (ncv too small relative to nev?)";
    case 3: return "no shifts could be applied during a cycle of implicit restarts; increase ncv relative to nev";
    case -1: return "N must be positive";
    case -2: return "NEV must be positive";
    case -3: return "NCV-NEV >= 2 and NCV <= N must hold";
    case -4: return "the maximum number of Arnoldi update iterations must be > 0";
    case -5: return "WHICH must be one of 'LM', 'SM', 'LR', 'SR', 'LI', 'SI'";
    case -6: return "BMAT must be one of 'I' or 'G'";
    case -7: return "length of private work array WORKL is not sufficient";
    case -8:
      return neupd ? "error return from calculation of a real Schur form (LAPACK dlahqr)"
                   : "error return from LAPACK eigenvalue calculation";
    case -9:
      return neupd ? "error return from calculation of eigenvectors (LAPACK dtrevc)" : "starting vector is zero";
    case -10: return "IPARAM(7) must be 1, 2, 3 or 4";
    case -11: return "IPARAM(7) = 1 and BMAT = 'G' are incompatible";
    case -12: return neupd ? "HOWMNY = 'S' not yet implemented" : "IPARAM(1) must be equal to 0 or 1";
    case -13: return "HOWMNY must be one of 'A' or 'P' if RVEC = .true.";
    case -14: return "DNAUPD did not find any eigenvalues to sufficient accuracy";
    case -15:
      return "DNEUPD got a different count of converged Ritz values than DNAUPD (data modified between the calls)";
    case -9999: return "could not build an Arnoldi factorization";
    default: return "unknown ARPACK error code";
  }
}

EigResult arpack_eigs(const LinearOperator& op, const ArpackOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t matvecs0 = op.matvecs();
  const std::int64_t n64 = op.size();
  const std::int64_t k = opt.k;
  check_eig_options("arpack", n64, opt);
  CONVDYN_CHECK(n64 <= 2147483647 / 4, ValueError, "arpack: n={} too large for 32-bit ARPACK indices", n64);
  const a_int n = static_cast<a_int>(n64);
  const a_int nev = static_cast<a_int>(k);
  const a_int ncv = static_cast<a_int>(detail::second_opinion_ncv(opt, n64));
  const char* which = to_string(opt.which);
  // An ARPACK error code is a failure of the method, reported as a result (nothing converged).
  auto failed = [&](const std::string& message) {
    EigResult out;
    out.method = "arpack";
    out.which = opt.which;
    out.tol = opt.tol;
    out.reason = StopReason::NumericalFailure;
    out.message = message;
    out.matvecs = op.matvecs() - matvecs0;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  };

  Eigen::VectorXd resid = detail::normal_vector(n64, opt.seed);
  std::vector<double> v(static_cast<std::size_t>(n) * static_cast<std::size_t>(ncv));
  std::vector<double> workd(3 * static_cast<std::size_t>(n));
  const a_int lworkl = 3 * ncv * ncv + 6 * ncv;
  std::vector<double> workl(static_cast<std::size_t>(lworkl));
  a_int iparam[11] = {0}, ipntr[14] = {0};
  iparam[0] = 1;                    // exact shifts
  iparam[2] = opt.max_restarts;     // maxiter
  iparam[6] = 1;                    // mode 1: A x = lambda x
  a_int ido = 0, info = 1;          // info = 1: resid holds the start vector

  while (true) {
    dnaupd_c(&ido, "I", n, which, nev, opt.tol, resid.data(), ncv, v.data(), n, iparam, ipntr, workd.data(),
             workl.data(), lworkl, &info);
    if (ido == -1 || ido == 1) {
      detail::apply_raw(op, workd.data() + ipntr[0] - 1, workd.data() + ipntr[1] - 1);
      continue;
    }
    break;  // ido == 99 (done or error)
  }
  if (info < 0) return failed(fmt::format("dnaupd failed with info={}: {}", info, arpack_info_message("dnaupd", info)));
  const Eigen::Map<const Eigen::MatrixXd> V(v.data(), n, ncv);

  Eigen::VectorXcd values;
  Eigen::MatrixXcd vectors;
  if (info == 0) {
    std::vector<a_int> select(static_cast<std::size_t>(ncv), 1);
    std::vector<double> dr(static_cast<std::size_t>(nev) + 1), di(static_cast<std::size_t>(nev) + 1);
    std::vector<double> z(static_cast<std::size_t>(n) * (static_cast<std::size_t>(nev) + 1));
    std::vector<double> workev(3 * static_cast<std::size_t>(ncv));
    a_int ierr = 0;
    dneupd_c(1, "A", select.data(), dr.data(), di.data(), z.data(), n, 0.0, 0.0, workev.data(), "I", n, which, nev,
             opt.tol, resid.data(), ncv, v.data(), n, iparam, ipntr, workd.data(), workl.data(), lworkl, &ierr);
    if (ierr != 0)
      return failed(fmt::format("dneupd failed with info={}: {}", ierr, arpack_info_message("dneupd", ierr)));
    const Index nconv = std::min<Index>(iparam[4], nev + 1);
    const Eigen::Map<const Eigen::MatrixXd> Z(z.data(), n, nev + 1);
    values.resize(nconv);
    vectors.resize(n, nconv);
    for (Index j = 0; j < nconv; ++j) {
      values(j) = cd(dr[static_cast<std::size_t>(j)], di[static_cast<std::size_t>(j)]);
      if (di[static_cast<std::size_t>(j)] == 0.0) {
        vectors.col(j) = Z.col(j).cast<cd>();
      } else if (j + 1 <= nev) {  // columns j, j+1: real and imaginary part; the partner is the conjugate
        vectors.col(j) = Z.col(j).cast<cd>() + cd(0.0, 1.0) * Z.col(j + 1).cast<cd>();
        if (j + 1 < nconv) {
          values(j + 1) = std::conj(values(j));
          vectors.col(j + 1) = vectors.col(j).conjugate();
        }
        ++j;
      } else {
        vectors.col(j) = Z.col(j).cast<cd>();  // no room for the imaginary part (cannot happen: z has nev+1)
      }
    }
  } else {
    // Stopped early: the Ritz pairs of the final length-ncv factorization A V = V H + f e^T. dnaup2 stores
    // rnorm in H(3,1) on exit, so clear everything below the subdiagonal.
    Eigen::MatrixXd H = Eigen::Map<const Eigen::MatrixXd>(workl.data() + ipntr[4] - 1, ncv, ncv);
    for (Index c = 0; c < ncv; ++c)
      for (Index r = c + 2; r < ncv; ++r) H(r, c) = 0.0;
    Eigen::EigenSolver<Eigen::MatrixXd> es(H, true);
    const Eigen::VectorXcd theta = es.eigenvalues();
    const auto order = order_by(theta, opt.which);
    const Index kk = std::min<Index>(k, theta.size());
    Eigen::MatrixXcd Y(ncv, kk);
    values.resize(kk);
    for (Index i = 0; i < kk; ++i) {
      values(i) = theta(order[static_cast<std::size_t>(i)]);
      Y.col(i) = es.eigenvectors().col(order[static_cast<std::size_t>(i)]);
    }
    const Eigen::MatrixXd re = V * Y.real(), im = V * Y.imag();
    vectors = re.cast<cd>() + cd(0.0, 1.0) * im.cast<cd>();
  }

  EigResult out;
  detail::finish_with_true_residuals(op, values, vectors, opt, out);
  out.method = "arpack";
  out.matvecs = op.matvecs() - matvecs0;
  out.restarts = iparam[2];
  out.reason = info == 0 && out.all_converged() && out.size() == k ? StopReason::Converged : StopReason::MaxRestarts;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace convdyn::linalg
