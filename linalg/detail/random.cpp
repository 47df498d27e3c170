#include "linalg/detail/random.hpp"

#include <ATen/ATen.h>

namespace convdyn::linalg::detail {

namespace {
template <class Dist>
at::Tensor draw(std::mt19937_64& rng, Dist dist, std::int64_t rows, std::int64_t n) {
  auto x = at::empty({rows, n}, at::TensorOptions().dtype(at::kDouble));
  double* p = x.data_ptr<double>();
  for (std::int64_t i = 0; i < rows * n; ++i) p[i] = dist(rng);
  return x;
}
}  // namespace

at::Tensor normal_block(std::mt19937_64& rng, std::int64_t rows, std::int64_t n, const at::TensorOptions& options) {
  return draw(rng, std::normal_distribution<double>(0.0, 1.0), rows, n)
      .to(options.device(), options.dtype().toScalarType());
}

Eigen::VectorXd normal_vector(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto x = draw(rng, std::normal_distribution<double>(0.0, 1.0), 1, n);
  return Eigen::Map<const Eigen::VectorXd>(x.data_ptr<double>(), n);
}

at::Tensor uniform_vector(std::int64_t n, std::uint64_t seed, const at::TensorOptions& options) {
  std::mt19937_64 rng(seed);
  return draw(rng, std::uniform_real_distribution<double>(0.0, 1.0), 1, n)
      .reshape({n})
      .to(options.device(), options.dtype().toScalarType());
}

}  // namespace convdyn::linalg::detail
