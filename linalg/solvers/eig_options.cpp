#include "linalg/solvers/eig_options.hpp"

#include "linalg/error.hpp"

namespace convdyn::linalg {

void check_eig_options(const char* method, std::int64_t n, const EigOptions& opt, int min_restarts) {
  CONVDYN_CHECK(opt.k >= 1 && opt.k <= n - 2, ValueError,
                "{}: k={} must be in [1, n-2]=[1, {}] (for k >= n-1 use the dense method)", method, opt.k, n - 2);
  CONVDYN_CHECK(opt.ncv == 0 || (opt.ncv >= opt.k + 2 && opt.ncv <= n), ValueError,
                "{}: ncv={} must be in [k+2, n]=[{}, {}] (or 0 for automatic)", method, opt.ncv, opt.k + 2, n);
  CONVDYN_CHECK(opt.tol > 0.0 && opt.tol < 1.0, ValueError, "{}: tol={} must be in (0, 1)", method, opt.tol);
  CONVDYN_CHECK(opt.max_restarts >= min_restarts, ValueError, "{}: max_restarts={} must be >= {}", method,
                opt.max_restarts, min_restarts);
}

}  // namespace convdyn::linalg
