// Precompiled header: the heavy LibTorch/Eigen/fmt headers shared by most translation units.
#pragma once
#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <fmt/format.h>
#include <string>
#include <vector>
#include <memory>
