#include "linalg/which.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "linalg/error.hpp"

namespace convdyn::linalg {

Which parse_which(const std::string& s) {
  if (s == "LM") return Which::LM;
  if (s == "LR") return Which::LR;
  if (s == "SR") return Which::SR;
  if (s == "SM") return Which::SM;
  if (s == "LI") return Which::LI;
  throw ValueError(fmt::format("unknown --which '{}' (expected LM, LR, SR, SM or LI)", s));
}

const char* to_string(Which w) {
  switch (w) {
    case Which::LM: return "LM";
    case Which::LR: return "LR";
    case Which::SR: return "SR";
    case Which::SM: return "SM";
    case Which::LI: return "LI";
  }
  return "?";
}

double which_key(const std::complex<double>& z, Which which) {
  switch (which) {
    case Which::LM: return std::abs(z);
    case Which::LR: return z.real();
    case Which::SR: return -z.real();
    case Which::SM: return -std::abs(z);
    case Which::LI: return std::abs(z.imag());
  }
  return 0.0;
}

std::vector<Eigen::Index> order_by(const Eigen::VectorXcd& values, Which which) {
  std::vector<Eigen::Index> idx(static_cast<std::size_t>(values.size()));
  std::iota(idx.begin(), idx.end(), Eigen::Index{0});
  auto key = [&](Eigen::Index i) { return which_key(values[i], which); };
  std::stable_sort(idx.begin(), idx.end(), [&](Eigen::Index a, Eigen::Index b) {
    const double ka = key(a), kb = key(b);
    // Treat keys equal to rounding as ties so that conjugates (equal |z|, equal Re) stay together.
    const double scale = std::max({std::abs(ka), std::abs(kb), 1e-300});
    if (std::abs(ka - kb) > 1e-13 * scale) return ka > kb;
    const auto &za = values[a], &zb = values[b];
    if (std::abs(za.real() - zb.real()) > 1e-13 * std::max(std::abs(za), std::abs(zb)))
      return za.real() > zb.real();
    return za.imag() > zb.imag();
  });
  return idx;
}

Eigen::VectorXcd select(const Eigen::VectorXcd& values, Which which, Eigen::Index k) {
  const auto idx = order_by(values, which);
  const Eigen::Index m = (k <= 0) ? values.size() : std::min<Eigen::Index>(k, values.size());
  Eigen::VectorXcd out(m);
  for (Eigen::Index i = 0; i < m; ++i) out[i] = values[idx[static_cast<std::size_t>(i)]];
  return out;
}

}  // namespace convdyn::linalg

