#include "analysis/spectrum.hpp"

#include <ATen/ATen.h>

#include "linalg/conv_operator.hpp"
#include "linalg/dense_eig.hpp"
#include "linalg/error.hpp"
#include "model/network.hpp"

namespace convdyn::analysis {

std::vector<std::string> spectrum_methods() { return {"dense"}; }

namespace {
c10::ScalarType parse_dtype(const std::string& s) {
  if (s == "float64") return at::kDouble;
  if (s == "float32") return at::kFloat;
  throw ValueError(fmt::format("unknown --dtype '{}' (expected float64 or float32)", s));
}
c10::Device parse_device(const std::string& s) {
  CONVDYN_CHECK(s == "cpu", DeviceError, "device '{}' is not supported by this build (only cpu)", s);
  return c10::Device(c10::DeviceType::CPU);
}
}  // namespace

LayerSpectrum compute_spectrum(const model::RecurrentLayer& layer, const SpectrumOptions& opt) {
  const auto dtype = parse_dtype(opt.dtype);
  const auto device = parse_device(opt.device);
  linalg::ConvOperator op(layer.weight, layer.height, layer.width, linalg::parse_padding(opt.padding), dtype,
                          device);
  LayerSpectrum out;
  out.layer.name = layer.name;
  out.layer.n = op.size();
  out.layer.channels = layer.channels;
  out.layer.height = layer.height;
  out.layer.width = layer.width;
  out.layer.kernel = layer.kernel;
  out.layer.padding = opt.padding;
  out.layer.parametrisation = layer.parametrisation;
  out.layer.dtype = opt.dtype;
  out.layer.device = device.str();
  CONVDYN_CHECK(opt.k >= 0, ValueError, "--k {} must be >= 0 (0 = all, dense only)", opt.k);
  if (opt.method == "dense") {
    linalg::DenseEigOptions d;
    d.which = opt.which;
    d.k = opt.k;
    d.max_n = opt.max_dense_n;
    d.vectors = opt.vectors;
    out.result = linalg::dense_eig(op, d);
  } else {
    throw ValueError(fmt::format("unknown --method '{}' (available: {})", opt.method,
                                 fmt::join(spectrum_methods(), ", ")));
  }
  return out;
}

}  // namespace convdyn::analysis
