// Which part of the spectrum to select: ARPACK's names.
#pragma once
#include <Eigen/Core>

#include <complex>
#include <string>
#include <vector>

namespace convdyn::linalg {

/// LM: largest magnitude, LR: largest real part (rightmost), SR: smallest real part, SM: smallest
/// magnitude, LI: largest |imaginary part|.
enum class Which { LM, LR, SR, SM, LI };

Which parse_which(const std::string& s);  // throws ValueError naming the valid choices
const char* to_string(Which w);

/// The number `which` maximises: |z| for LM, Re z for LR, -Re z for SR, -|z| for SM, |Im z| for LI.
double which_key(const std::complex<double>& z, Which which);

/// Indices of `values` in the order `which` prefers (best first). Ties are broken by the other
/// component so that a complex-conjugate pair is adjacent, positive imaginary part first; the order is
/// deterministic for equal inputs.
std::vector<Eigen::Index> order_by(const Eigen::VectorXcd& values, Which which);

/// The first min(k, size) entries of `values` in `which` order; k <= 0 means all.
Eigen::VectorXcd select(const Eigen::VectorXcd& values, Which which, Eigen::Index k);

}  // namespace convdyn::linalg
