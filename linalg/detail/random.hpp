// Seeded random start vectors. Generated on the CPU in double precision from std::mt19937_64, so that one
// seed gives the same start on every device and dtype (results are reproducible across machines), then moved
// to the operator. Internal to convdyn::linalg.
#pragma once
#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include <cstdint>
#include <random>

namespace convdyn::linalg::detail {

/// (rows, n) independent standard-normal entries drawn from `rng` in row-major order, with `options`' dtype
/// and device.
at::Tensor normal_block(std::mt19937_64& rng, std::int64_t rows, std::int64_t n, const at::TensorOptions& options);

/// A standard-normal vector of length n from std::mt19937_64(seed) (the first row of normal_block).
Eigen::VectorXd normal_vector(std::int64_t n, std::uint64_t seed);

/// A vector of length n with entries uniform in [0, 1) from std::mt19937_64(seed) (the published method's
/// non-negative start), with `options`' dtype and device.
at::Tensor uniform_vector(std::int64_t n, std::uint64_t seed, const at::TensorOptions& options);

}  // namespace convdyn::linalg::detail
