// cusolverDnXgeev on raw device buffers. Compiled only when CMake found the CUDA toolkit
// (CONVDYN_HAVE_CUSOLVER); needs the toolkit's runtime and cuSOLVER, not a CUDA LibTorch.
#include "linalg/cuda/cusolver_dense_eig.hpp"

#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <utility>
#include <vector>

#include "linalg/detail/residuals.hpp"
#include "linalg/which.hpp"

namespace convdyn::linalg {

namespace {

std::string human_gb(double bytes) { return fmt::format("{:.2f} GB", bytes / 1e9); }

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "cusolverStatus_t";
  }
}

/// One checked wrapper per call kind: a failure becomes a one-line DeviceError naming the call.
void check_cuda(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();  // reset the runtime's last-error state so later calls start clean
  throw DeviceError(fmt::format("cuda dense eig: {} failed: {} ({})", call, cudaGetErrorName(e), cudaGetErrorString(e)));
}
void check_cusolver(cusolverStatus_t s, const char* call) {
  if (s == CUSOLVER_STATUS_SUCCESS) return;
  throw DeviceError(fmt::format("cuda dense eig: {} failed: {} ({})", call, cusolver_status_name(s), static_cast<int>(s)));
}

/// Number of CUDA devices; DeviceError with the runtime's reason when there is none.
int device_count_or_throw() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw DeviceError(fmt::format("cuda: no CUDA device available (cudaGetDeviceCount: {}: {})", cudaGetErrorName(e),
                                  cudaGetErrorString(e)));
  }
  CONVDYN_CHECK(count > 0, DeviceError, "cuda: no CUDA device available (cudaGetDeviceCount: 0 devices)");
  return count;
}

/// Makes `device` current for the scope and restores the previous one (LibTorch's current device, say).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceScope() { (void)cudaSetDevice(previous_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

/// Move-only device allocation, freed in the destructor (which never throws).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t bytes, const char* what) : bytes_(bytes) {
    if (bytes == 0) return;
    const cudaError_t e = cudaMalloc(&ptr_, bytes);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      ptr_ = nullptr;
      throw DeviceError(fmt::format("cuda dense eig: cudaMalloc of {} ({}) failed: {} ({})", what, human_gb(double(bytes)),
                                    cudaGetErrorName(e), cudaGetErrorString(e)));
    }
  }
  ~DeviceBuffer() {
    if (ptr_) (void)cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr_) (void)cudaFree(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const noexcept { return ptr_; }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

class SolverHandle {
 public:
  SolverHandle() { check_cusolver(cusolverDnCreate(&h_), "cusolverDnCreate"); }
  ~SolverHandle() { (void)cusolverDnDestroy(h_); }
  SolverHandle(const SolverHandle&) = delete;
  SolverHandle& operator=(const SolverHandle&) = delete;
  cusolverDnHandle_t get() const noexcept { return h_; }

 private:
  cusolverDnHandle_t h_ = nullptr;
};

class SolverParams {
 public:
  SolverParams() { check_cusolver(cusolverDnCreateParams(&p_), "cusolverDnCreateParams"); }
  ~SolverParams() { (void)cusolverDnDestroyParams(p_); }
  SolverParams(const SolverParams&) = delete;
  SolverParams& operator=(const SolverParams&) = delete;
  cusolverDnParams_t get() const noexcept { return p_; }

 private:
  cusolverDnParams_t p_ = nullptr;
};

/// Free and total device memory of the current device.
std::pair<double, double> mem_info() {
  std::size_t free_b = 0, total_b = 0;
  check_cuda(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  return {double(free_b), double(total_b)};
}

void check_memory(double needed, std::int64_t n, int device, const char* what) {
  const auto [free_b, total_b] = mem_info();
  CONVDYN_CHECK(needed <= free_b, DeviceError,
                "cuda dense eig: n={} needs about {} of device memory ({}) but cuda:{} has {} free of {} "
                "(use --method krylov-schur, or a larger GPU)",
                n, human_gb(needed), what, device, human_gb(free_b), human_gb(total_b));
}

}  // namespace

bool cuda_dense_available() noexcept {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

void require_cuda_device(int device) {
  const int count = device_count_or_throw();
  CONVDYN_CHECK(device >= 0 && device < count, DeviceError, "cuda: device cuda:{} does not exist ({} device{})",
                device, count, count == 1 ? "" : "s");
}

EigResult dense_eig_cuda(const Eigen::MatrixXd& a, const DenseEigOptions& opt, int device) {
  CONVDYN_CHECK(a.rows() == a.cols(), ValueError, "cuda dense eig: matrix is {}x{}, not square", a.rows(), a.cols());
  CONVDYN_CHECK(a.allFinite(), ValueError, "cuda dense eig: matrix holds NaN or Inf");
  require_cuda_device(device);
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t n = a.rows();
  EigResult r;
  r.method = "dense";
  r.which = opt.which;
  r.reason = StopReason::NotIterative;
  if (n == 0) return r;

  DeviceScope scope(device);
  // Guard before allocating: the buffers below plus an n^2 estimate of the workspace (queried exactly
  // once the buffers exist, and checked again).
  const double nd = static_cast<double>(n);
  check_memory(cuda_dense_bytes(n, opt.vectors) + 8.0 * nd * nd, n, device,
               opt.vectors ? "matrix, eigenvectors and workspace" : "matrix and workspace");

  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  SolverHandle handle;
  SolverParams params;
  DeviceBuffer d_a(nn * sizeof(double), "A");
  DeviceBuffer d_w(static_cast<std::size_t>(n) * sizeof(std::complex<double>), "W");
  DeviceBuffer d_vr(opt.vectors ? nn * sizeof(double) : 0, "VR");
  DeviceBuffer d_info(sizeof(int), "info");
  check_cuda(cudaMemcpy(d_a.get(), a.data(), nn * sizeof(double), cudaMemcpyHostToDevice), "cudaMemcpy(A)");

  const cusolverEigMode_t jobvl = CUSOLVER_EIG_MODE_NOVECTOR;  // left vectors: not supported by Xgeev
  const cusolverEigMode_t jobvr = opt.vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const std::int64_t ldvr = opt.vectors ? n : 1;
  std::size_t work_dev = 0, work_host = 0;
  // Real A, complex W (each conjugate pair returned in full), real VR in LAPACK's packed pair format.
  check_cusolver(cusolverDnXgeev_bufferSize(handle.get(), params.get(), jobvl, jobvr, n, CUDA_R_64F, d_a.get(), n,
                                            CUDA_C_64F, d_w.get(), CUDA_R_64F, nullptr, 1, CUDA_R_64F, d_vr.get(),
                                            ldvr, CUDA_R_64F, &work_dev, &work_host),
                 "cusolverDnXgeev_bufferSize");
  check_memory(double(work_dev), n, device, "cuSOLVER workspace, after the matrix buffers");
  DeviceBuffer d_work(work_dev, "workspace");
  std::vector<char> h_work(work_host);
  check_cusolver(cusolverDnXgeev(handle.get(), params.get(), jobvl, jobvr, n, CUDA_R_64F, d_a.get(), n, CUDA_C_64F,
                                 d_w.get(), CUDA_R_64F, nullptr, 1, CUDA_R_64F, d_vr.get(), ldvr, CUDA_R_64F,
                                 d_work.get(), work_dev, work_host ? h_work.data() : nullptr, work_host,
                                 static_cast<int*>(d_info.get())),
                 "cusolverDnXgeev");
  int info = 0;
  check_cuda(cudaMemcpy(&info, d_info.get(), sizeof(int), cudaMemcpyDeviceToHost), "cudaMemcpy(info)");
  CONVDYN_ASSERT(info >= 0, "cusolverDnXgeev: parameter {} had an illegal value", -info);
  if (info > 0) {
    r.reason = StopReason::NumericalFailure;
    r.message = fmt::format("cusolverDnXgeev did not converge (n={}, info={}: the QR algorithm failed to compute "
                            "all eigenvalues)", n, info);
    return r;
  }

  Eigen::VectorXcd all(n);
  check_cuda(cudaMemcpy(all.data(), d_w.get(), static_cast<std::size_t>(n) * sizeof(std::complex<double>),
                        cudaMemcpyDeviceToHost),
             "cudaMemcpy(W)");
  const auto idx = order_by(all, opt.which);
  const Eigen::Index k = (opt.k <= 0) ? all.size() : std::min<Eigen::Index>(opt.k, all.size());
  r.values.resize(k);
  for (Eigen::Index i = 0; i < k; ++i) r.values[i] = all[idx[static_cast<std::size_t>(i)]];

  if (opt.vectors) {
    Eigen::MatrixXd vr(n, n);
    check_cuda(cudaMemcpy(vr.data(), d_vr.get(), nn * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy(VR)");
    d_a = DeviceBuffer();
    d_vr = DeviceBuffer();
    d_work = DeviceBuffer();
    // LAPACK's packing: a real eigenvalue j has VR(:, j); a conjugate pair (j, j+1), positive imaginary
    // part first, has v(j) = VR(:, j) + i VR(:, j+1) and v(j+1) = VR(:, j) - i VR(:, j+1).
    std::vector<Eigen::Index> re_col(static_cast<std::size_t>(n)), im_col(static_cast<std::size_t>(n), -1);
    std::vector<double> im_sign(static_cast<std::size_t>(n), 0.0);
    for (Eigen::Index j = 0; j < n; ++j) {
      const auto u = static_cast<std::size_t>(j);
      re_col[u] = j;
      if (all[j].imag() != 0.0 && j + 1 < n) {
        re_col[u + 1] = j;
        im_col[u] = im_col[u + 1] = j + 1;
        im_sign[u] = 1.0;
        im_sign[u + 1] = -1.0;
        ++j;
      }
    }
    r.vectors.resize(n, k);
    for (Eigen::Index i = 0; i < k; ++i) {
      const auto j = static_cast<std::size_t>(idx[static_cast<std::size_t>(i)]);
      Eigen::VectorXcd x = vr.col(re_col[j]).cast<std::complex<double>>();
      if (im_col[j] >= 0) x.imag() = im_sign[j] * vr.col(im_col[j]);
      x /= x.norm();
      r.vectors.col(i) = x;
    }
    r.residuals = detail::true_residuals(a, r.values, r.vectors);
  }
  r.converged = Eigen::Matrix<bool, Eigen::Dynamic, 1>::Constant(k, true);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace convdyn::linalg
