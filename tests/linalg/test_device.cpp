// Device parsing and the CUDA numerics settings (no GPU needed for most: CUDA tests skip without a device).
#include <ATen/Context.h>
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "linalg/device.hpp"
#include "linalg/error.hpp"
#include "linalg/support.hpp"

using namespace convdyn;
using namespace convdyn::linalg;
using namespace convdyn::tests;

TEST(ParseDevice, CpuIsAccepted) { EXPECT_EQ(parse_device("cpu"), c10::Device(c10::DeviceType::CPU)); }

TEST(ParseDevice, MalformedNamesAreValueErrors) {
  for (const char* s : {"gpu", "cuda:x", "CUDA", "cuda:", "cuda:-1", "cuda0", "", "cpu:0", "cuda:99999"})
    EXPECT_THROW(parse_device(s), ValueError) << "'" << s << "'";
}

TEST(ParseDevice, CudaWithoutCudaSaysWhy) {
  if (at::hasCUDA()) GTEST_SKIP() << "LibTorch has a CUDA device here";
  for (const char* s : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string msg = device_error_of([&] { parse_device(s); });
    if (torch_built_with_cuda())
      EXPECT_NE(msg.find("no CUDA device available"), std::string::npos) << msg;
    else
      EXPECT_NE(msg.find("CPU-only LibTorch"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ParseDevice, CudaDeviceTurnsTf32OffAndBenchmarkOn) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device (LibTorch)";
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(true);
  ctx.setAllowTF32CuDNN(true);
  const auto d = parse_device("cuda");
  EXPECT_TRUE(d.is_cuda());
  EXPECT_EQ(d.index(), 0);
  EXPECT_FALSE(ctx.allowTF32CuBLAS());
  EXPECT_FALSE(ctx.allowTF32CuDNN());
  EXPECT_TRUE(ctx.benchmarkCuDNN());
  const std::string msg = device_error_of([] { parse_device("cuda:" + std::to_string(at::getNumGPUs())); });
  EXPECT_NE(msg.find("CUDA device"), std::string::npos) << msg;
}
