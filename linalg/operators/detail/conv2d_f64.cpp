#include "linalg/operators/detail/conv2d_f64.hpp"

#include <ATen/ATen.h>
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>

#include "linalg/error.hpp"

namespace convdyn::linalg::detail {

const char* to_string(Conv2dAlgo algo) {
  switch (algo) {
    case Conv2dAlgo::Auto: return "auto";
    case Conv2dAlgo::Direct: return "direct";
    case Conv2dAlgo::Winograd: return "winograd";
  }
  return "?";
}

namespace {

// Small images are stacked into one GEMM until it has about this many columns: OpenBLAS runs a
// [C, K] x [K, N] product with N of a few dozen (one 7x7 image) far below its peak. Winograd's GEMMs
// have one column per 2x2 tile; more images per group than that only push its scratch out of cache.
constexpr int64_t kGemmColumns = 1024;
constexpr int64_t kWinogradTiles = 128;
// Upper bound on the scratch of one group of images, so that it stays in the last-level cache.
constexpr size_t kScratchBytes = size_t{24} << 20;

// Uninitialised scratch (std::vector would zero it on every call).
struct Scratch {
  std::unique_ptr<double[]> p;
  explicit Scratch(size_t n) : p(n ? new double[n] : nullptr) {}
  double* get() const { return p.get(); }
};

// Row strides of the scratch matrices: a multiple of 4 KiB plus 3 cache lines, so that the rows the GEMM
// packs together (and the 16 Winograd streams) do not all map to the same L1 sets.
size_t padded_stride(size_t n) { return (n + 511) / 512 * 512 + 24; }

int as_int(int64_t v) {
  if (v < 0 || v > INT_MAX) throw ValueError("Conv2dF64: a GEMM dimension exceeds the BLAS int range");
  return static_cast<int>(v);
}

// Row-major C[M, N] = A[M, K] B[K, N] + beta C.
void gemm(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
          double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, as_int(M), as_int(N), as_int(K), 1.0, A, as_int(lda), B,
              as_int(ldb), beta, C, as_int(ldc));
}

int64_t wrap(int64_t i, int64_t n) { return ((i % n) + n) % n; }

// Row r of an H x W image under the padding rule; nullptr stands for a row of zeros.
const double* src_row(const double* img, int64_t r, int64_t H, int64_t W, bool circ) {
  if (r >= 0 && r < H) return img + r * W;
  if (!circ) return nullptr;
  return img + wrap(r, H) * W;
}

// dst[i] = src[i + s] for i in [0, n), src being one image row under the padding rule.
void shifted_row(double* dst, const double* src, int64_t n, int64_t s, bool circ) {
  const int64_t lo = std::clamp<int64_t>(-s, 0, n), hi = std::clamp<int64_t>(n - s, lo, n);
  if (hi > lo) std::memcpy(dst + lo, src + lo + s, sizeof(double) * (hi - lo));
  for (int64_t i = 0; i < lo; ++i) dst[i] = circ ? src[wrap(i + s, n)] : 0.0;
  for (int64_t i = hi; i < n; ++i) dst[i] = circ ? src[wrap(i + s, n)] : 0.0;
}

// Images per GEMM group: enough for about cols_wanted columns, within the scratch bound, at least one.
int64_t group_size(int64_t batch, int64_t cols_per_image, int64_t cols_wanted, size_t bytes_per_image) {
  int64_t g = std::min<int64_t>(batch, (cols_wanted + cols_per_image - 1) / cols_per_image);
  g = std::min<int64_t>(g, static_cast<int64_t>(kScratchBytes / std::max<size_t>(bytes_per_image, 1)));
  return std::max<int64_t>(g, 1);
}

// ---- Winograd F(2x2, 3x3) transforms, vectorised over 4 tiles ----
// The AVX2 clone is chosen at load time where the CPU has it; the default clone is plain x86-64.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(CONVDYN_CONV_NO_TARGET_CLONES)
#define CONVDYN_VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CONVDYN_VEC_CLONES
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef double v4du __attribute__((vector_size(32), aligned(8), may_alias));  // unaligned access
typedef long long v4i __attribute__((vector_size(32)));
#define CONVDYN_INLINE inline __attribute__((always_inline))
CONVDYN_INLINE void load(v4d& r, const double* p) { r = *reinterpret_cast<const v4du*>(p); }
CONVDYN_INLINE void load(double& r, const double* p) { r = *p; }
CONVDYN_INLINE void store(double* p, const v4d& v) { *reinterpret_cast<v4du*>(p) = v; }
CONVDYN_INLINE void store(double* p, double v) { *p = v; }
// (a0, b0, a1, b1, ...) to d: four pairs for vectors, one for scalars.
CONVDYN_INLINE void store_pairs(double* d, const v4d& a, const v4d& b) {
#if defined(__clang__)
  store(d, __builtin_shufflevector(a, b, 0, 4, 1, 5));
  store(d + 4, __builtin_shufflevector(a, b, 2, 6, 3, 7));
#else
  store(d, __builtin_shuffle(a, b, v4i{0, 4, 1, 5}));
  store(d + 4, __builtin_shuffle(a, b, v4i{2, 6, 3, 7}));
#endif
}
CONVDYN_INLINE void store_pairs(double* d, double a, double b) {
  d[0] = a;
  d[1] = b;
}

// a[q] = src[2q + 1], b[q] = src[2q] for q in [0, n).
CONVDYN_VEC_CLONES void deinterleave(const double* __restrict src, int64_t n, double* __restrict a,
                                     double* __restrict b) {
  for (int64_t q = 0; q < n; ++q) {
    b[q] = src[2 * q];
    a[q] = src[2 * q + 1];
  }
}

// Input tiles tx.. (one, or four for V = v4d) of one tile row: V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0;
// 0 -1 1 0; 0 1 0 -1]. r[2i] and r[2i+1] are padded row i deinterleaved (even / odd padded columns), so
// tile tx spans r[2i][tx], r[2i+1][tx], r[2i][tx+1], r[2i+1][tx+1]. Output xi goes to v + xi * vs.
template <class V>
CONVDYN_INLINE void input_tiles(int64_t tx, const double* const* r, double* v, size_t vs) {
  V c[4][4];
  for (int i = 0; i < 4; ++i) {
    load(c[i][0], r[2 * i] + tx);
    load(c[i][1], r[2 * i + 1] + tx);
    load(c[i][2], r[2 * i] + tx + 1);
    load(c[i][3], r[2 * i + 1] + tx + 1);
  }
  double* d = v + tx;
  for (int j = 0; j < 4; ++j) {  // rows of B^T d
    V a[4];
    for (int q = 0; q < 4; ++q) {
      const V r0 = c[0][q], r1 = c[1][q], r2 = c[2][q], r3 = c[3][q];
      a[q] = j == 0 ? r0 - r2 : j == 1 ? r1 + r2 : j == 2 ? r2 - r1 : r1 - r3;
    }
    store(d, a[0] - a[2]);  // times B
    store(d + vs, a[1] + a[2]);
    store(d + 2 * vs, a[2] - a[1]);
    store(d + 3 * vs, a[1] - a[3]);
    d += 4 * vs;
  }
}

// One tile row: n input tiles, from the 8 deinterleaved padded rows r (each n + 1 long).
CONVDYN_VEC_CLONES void wino_input_row(int64_t n, const double* const* r, double* v, size_t vs) {
  int64_t tx = 0;
  for (; tx + 4 <= n; tx += 4) input_tiles<v4d>(tx, r, v, vs);
  for (; tx < n; ++tx) input_tiles<double>(tx, r, v, vs);
}

// Output tiles tx.. of one tile row: Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], from the 16 products at
// m + xi * ms, into output rows d0 and d1 (columns 2 tx ..).
template <class V>
CONVDYN_INLINE void output_tiles(int64_t tx, const double* m, size_t ms, double* d0, double* d1) {
  V q[16];
  for (int i = 0; i < 16; ++i) load(q[i], m + i * ms + tx);
  V s0[4], s1[4];
  for (int c = 0; c < 4; ++c) {
    s0[c] = q[c] + q[4 + c] + q[8 + c];
    s1[c] = q[4 + c] - q[8 + c] - q[12 + c];
  }
  store_pairs(d0 + 2 * tx, s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]);
  store_pairs(d1 + 2 * tx, s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]);
}

// One tile row: n output tiles into two rows of 2n entries.
CONVDYN_VEC_CLONES void wino_output_row(int64_t n, const double* m, size_t ms, double* d0, double* d1) {
  int64_t tx = 0;
  for (; tx + 4 <= n; tx += 4) output_tiles<v4d>(tx, m, ms, d0, d1);
  for (; tx < n; ++tx) output_tiles<double>(tx, m, ms, d0, d1);
}

[[noreturn]] void fail(const std::string& msg) { throw ValueError("Conv2dF64: " + msg); }

std::string shape_str(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + ")";
}

}  // namespace

Conv2dF64::Conv2dF64(const at::Tensor& weight, int64_t height, int64_t width, bool circular, Conv2dAlgo algo)
    : h_(height), w_(width), circular_(circular), algo_(algo) {
  if (!weight.defined()) fail("undefined weight");
  if (weight.dim() != 4) fail("weight must be 4-D (C_out, C_in, k, k), got " + shape_str(weight));
  co_ = weight.size(0);
  ci_ = weight.size(1);
  k_ = weight.size(2);
  if (weight.size(3) != k_) fail("kernel must be square, got " + shape_str(weight));
  if (k_ % 2 == 0) fail("kernel size must be odd for 'same' output, got " + std::to_string(k_));
  if (co_ <= 0 || ci_ <= 0) fail("weight has no channels: " + shape_str(weight));
  if (h_ <= 0 || w_ <= 0) fail("grid must be positive, got " + std::to_string(h_) + "x" + std::to_string(w_));
  if (circular_ && (k_ / 2 > h_ || k_ / 2 > w_))
    fail("circular padding of a " + std::to_string(k_) + "x" + std::to_string(k_) + " kernel needs H, W >= " +
         std::to_string(k_ / 2) + ", got " + std::to_string(h_) + "x" + std::to_string(w_));
  if (algo_ == Conv2dAlgo::Winograd && k_ != 3)
    fail("Winograd F(2x2, 3x3) needs k = 3, got " + std::to_string(k_));

  const at::Tensor w = weight.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* src = w.data_ptr<double>();
  const int64_t k = k_, kk = k * k;
  wd_.resize(static_cast<size_t>(co_ * ci_ * kk));
  for (int64_t o = 0; o < co_; ++o)
    for (int64_t c = 0; c < ci_; ++c)
      for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b) wd_[((a * co_ + o) * k + b) * ci_ + c] = src[(o * ci_ + c) * kk + a * k + b];

  if (k_ == 3 && algo_ != Conv2dAlgo::Direct) {
    // U = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (exact in binary).
    wu_.resize(static_cast<size_t>(16 * co_ * ci_));
    for (int64_t o = 0; o < co_; ++o)
      for (int64_t c = 0; c < ci_; ++c) {
        const double* g = src + (o * ci_ + c) * 9;
        double gg[4][3];
        for (int q = 0; q < 3; ++q) {
          gg[0][q] = g[q];
          gg[1][q] = 0.5 * (g[q] + g[3 + q] + g[6 + q]);
          gg[2][q] = 0.5 * (g[q] - g[3 + q] + g[6 + q]);
          gg[3][q] = g[6 + q];
        }
        for (int i = 0; i < 4; ++i) {
          const double r[4] = {gg[i][0], 0.5 * (gg[i][0] + gg[i][1] + gg[i][2]), 0.5 * (gg[i][0] - gg[i][1] + gg[i][2]),
                               gg[i][2]};
          for (int j = 0; j < 4; ++j) wu_[((i * 4 + j) * co_ + o) * ci_ + c] = r[j];
        }
      }
  }
}

at::Tensor Conv2dF64::weight() const {
  at::Tensor w = at::empty({co_, ci_, k_, k_}, at::TensorOptions().dtype(at::kDouble));
  double* d = w.data_ptr<double>();
  const int64_t k = k_;
  for (int64_t o = 0; o < co_; ++o)
    for (int64_t c = 0; c < ci_; ++c)
      for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b) d[((o * ci_ + c) * k + a) * k + b] = wd_[((a * co_ + o) * k + b) * ci_ + c];
  return w;
}

at::Tensor Conv2dF64::transpose_weight(const at::Tensor& weight) {
  if (!weight.defined() || weight.dim() != 4) fail("transpose_weight needs a 4-D weight (C_out, C_in, k, k)");
  return weight.detach().to(at::kCPU, at::kDouble).flip({2, 3}).transpose(0, 1).contiguous();
}

Conv2dF64 Conv2dF64::transposed() const { return Conv2dF64(transpose_weight(weight()), h_, w_, circular_, algo_); }

Conv2dAlgo Conv2dF64::algo_for(int64_t batch) const {
  if (algo_ != Conv2dAlgo::Auto) return algo_;
  if (k_ == 3 && !wu_.empty() && std::min(ci_, co_) >= 4) {
    // Winograd's GEMMs have one column per 2x2 tile. With a few dozen columns (one 7x7 image) they
    // stream the 16 C_out x C_in matrices for little work: they lose to the direct GEMMs once those
    // matrices no longer fit in cache (C = 256 and up). With 1-3 channels the transforms dominate.
    const int64_t tiles = ((h_ + 1) / 2) * ((w_ + 1) / 2) * batch;
    if (tiles >= 32 || co_ * ci_ <= 128 * 128) return Conv2dAlgo::Winograd;
  }
  return Conv2dAlgo::Direct;
}

void Conv2dF64::check_input(const at::Tensor& x, int64_t* batch) const {
  if (!x.defined()) fail("undefined input");
  if (!x.device().is_cpu()) fail("input must be on the CPU, got " + x.device().str());
  if (x.scalar_type() != at::kDouble)
    fail(std::string("input must be float64, got ") + c10::toString(x.scalar_type()));
  const int64_t chw = ci_ * h_ * w_;
  const std::string want = "(b, " + std::to_string(ci_) + ", " + std::to_string(h_) + ", " + std::to_string(w_) +
                           "), (" + std::to_string(ci_) + ", " + std::to_string(h_) + ", " + std::to_string(w_) +
                           "), (b, " + std::to_string(chw) + ") or (" + std::to_string(chw) + ")";
  bool ok = false;
  switch (x.dim()) {
    case 4: ok = x.size(1) == ci_ && x.size(2) == h_ && x.size(3) == w_; *batch = x.size(0); break;
    case 3: ok = x.size(0) == ci_ && x.size(1) == h_ && x.size(2) == w_; *batch = 1; break;
    case 2: ok = x.size(1) == chw; *batch = x.size(0); break;
    case 1: ok = x.size(0) == chw; *batch = 1; break;
    default: break;
  }
  if (!ok) fail("input of shape " + shape_str(x) + " does not match " + want);
}

at::Tensor Conv2dF64::apply(const at::Tensor& x) const {
  int64_t b = 0;
  check_input(x, &b);
  std::vector<int64_t> shape = x.sizes().vec();
  switch (x.dim()) {
    case 4: shape[1] = co_; break;
    case 3: shape[0] = co_; break;
    case 2: shape[1] = co_ * h_ * w_; break;
    default: shape[0] = co_ * h_ * w_; break;
  }
  at::Tensor y = at::empty(shape, x.options().memory_format(at::MemoryFormat::Contiguous));
  if (b == 0) return y;
  const at::Tensor xc = x.contiguous();
  apply(xc.data_ptr<double>(), y.data_ptr<double>(), b);
  return y;
}

void Conv2dF64::apply_out(const at::Tensor& x, at::Tensor& y) const {
  int64_t b = 0;
  check_input(x, &b);
  if (!y.defined() || !y.device().is_cpu() || y.scalar_type() != at::kDouble || !y.is_contiguous())
    fail("output must be a contiguous float64 CPU tensor");
  if (y.numel() != b * co_ * h_ * w_)
    fail("output has " + std::to_string(y.numel()) + " elements, expected " + std::to_string(b * co_ * h_ * w_));
  if (b == 0) return;
  const at::Tensor xc = x.contiguous();
  const double *xp = xc.data_ptr<double>(), *yp = y.data_ptr<double>();
  if (xp < yp + y.numel() && yp < xp + xc.numel()) fail("output overlaps the input");
  apply(xp, y.data_ptr<double>(), b);
}

void Conv2dF64::apply(const double* x, double* y, int64_t batch) const {
  if (batch <= 0) return;
  if (algo_for(batch) == Conv2dAlgo::Winograd) run_winograd(x, y, batch);
  else run_direct(x, y, batch);
}

// Direct: col[(kw, c)][hp][j][w] = x_j[c] at padded row hp, shifted by kw - p, for the g images j of a
// group (rows of different images interleaved, so that a shift by whole padded rows is one offset);
// then y[o][(h, j, w)] = sum_kh Wd[kh] (C_out x k C_in) col[:, (h + kh, j, w)], i.e. k GEMMs on the same
// buffer at offsets kh * g * W. With g > 1 the result is transposed to (j, o, h, w).
void Conv2dF64::run_direct(const double* x, double* y, int64_t b) const {
  const int64_t k = k_, p = k / 2, H = h_, W = w_, HW = H * W, Hp = H + 2 * p, Ci = ci_, Co = co_, K = k * Ci;
  const int64_t g = group_size(b, HW, kGemmColumns, static_cast<size_t>(K * Hp * W) * sizeof(double));
  if (k == 1 && g == 1) {  // the input already is the right-hand side
    for (int64_t j = 0; j < b; ++j) gemm(Co, HW, Ci, wd_.data(), Ci, x + j * Ci * HW, HW, 0.0, y + j * Co * HW, HW);
    return;
  }
  const size_t rs = padded_stride(static_cast<size_t>(Hp * g * W));
  Scratch col(rs * K), yt(g > 1 ? static_cast<size_t>(Co * HW * g) : 0);
  for (int64_t j0 = 0; j0 < b; j0 += g) {
    const int64_t gn = std::min(g, b - j0);
    for (int64_t c = 0; c < Ci; ++c)
      for (int64_t kw = 0; kw < k; ++kw) {
        double* row = col.get() + (kw * Ci + c) * rs;
        for (int64_t hp = 0; hp < Hp; ++hp)
          for (int64_t j = 0; j < gn; ++j) {
            double* d = row + (hp * gn + j) * W;
            const double* sr = src_row(x + ((j0 + j) * Ci + c) * HW, hp - p, H, W, circular_);
            if (sr) shifted_row(d, sr, W, kw - p, circular_);
            else std::memset(d, 0, sizeof(double) * W);
          }
      }
    const int64_t N = HW * gn;
    double* out = gn == 1 ? y + j0 * Co * HW : yt.get();
    for (int64_t kh = 0; kh < k; ++kh)
      gemm(Co, N, K, wd_.data() + kh * Co * K, K, col.get() + kh * gn * W, rs, kh ? 1.0 : 0.0, out, N);
    if (gn > 1)
      for (int64_t o = 0; o < Co; ++o)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t j = 0; j < gn; ++j)
            std::memcpy(y + ((j0 + j) * Co + o) * HW + h * W, out + o * N + (h * gn + j) * W, sizeof(double) * W);
  }
}

// Winograd F(2x2, 3x3): 2x2 output tiles from 4x4 input tiles (stride 2); for the g images of a group,
// V[xi][c][t] = (B^T d_{c,t} B)[xi], M[xi] = U[xi] V[xi] (16 GEMMs), output tile t = A^T M[.][o][t] A. A
// tile grid of ceil(H/2) x ceil(W/2) covers odd sizes; the extra row/column is computed and dropped.
void Conv2dF64::run_winograd(const double* x, double* y, int64_t b) const {
  const int64_t H = h_, W = w_, HW = H * W, Ci = ci_, Co = co_;
  const int64_t th = (H + 1) / 2, tw = (W + 1) / 2, tiles = th * tw, Hp = 2 * th + 2, Q = tw + 1;
  const int64_t g =
      group_size(b, tiles, kWinogradTiles, static_cast<size_t>(16 * (Ci + Co) * tiles) * sizeof(double));
  const int64_t T = g * tiles;
  const size_t vs = padded_stride(static_cast<size_t>(Ci * T)), ms = padded_stride(static_cast<size_t>(Co * T));
  Scratch v(16 * vs), m(16 * ms), pad(static_cast<size_t>(Hp * 2 * Q)), rows(static_cast<size_t>(4 * tw));
  double *pd = pad.get(), *r0 = rows.get(), *r1 = r0 + 2 * tw;
  for (int64_t j0 = 0; j0 < b; j0 += g) {
    const int64_t gn = std::min(g, b - j0), Tn = gn * tiles;
    for (int64_t j = 0; j < gn; ++j)
      for (int64_t c = 0; c < Ci; ++c) {
        const double* img = x + ((j0 + j) * Ci + c) * HW;
        for (int64_t r = 0; r < Hp; ++r) {  // padded row r is image row r - 1; E[q] = col 2q - 1, O[q] = col 2q
          double* E = pd + r * 2 * Q;
          double* O = E + Q;
          const double* sr = src_row(img, r - 1, H, W, circular_);
          if (!sr) {
            std::fill(E, E + 2 * Q, 0.0);
            continue;
          }
          deinterleave(sr, W / 2, E + 1, O);
          const auto at_col = [&](int64_t col) {
            return col >= 0 && col < W ? sr[col] : (circular_ ? sr[wrap(col, W)] : 0.0);
          };
          E[0] = at_col(-1);
          for (int64_t q = W / 2; q <= tw; ++q) {  // the columns from 2 * (W / 2) on
            O[q] = at_col(2 * q);
            if (q > W / 2) E[q] = at_col(2 * q - 1);
          }
        }
        for (int64_t ty = 0; ty < th; ++ty) {
          const double* e = pd + 2 * ty * 2 * Q;
          const double* rr[8] = {e, e + Q, e + 2 * Q, e + 3 * Q, e + 4 * Q, e + 5 * Q, e + 6 * Q, e + 7 * Q};
          wino_input_row(tw, rr, v.get() + c * Tn + (j * th + ty) * tw, vs);
        }
      }
    for (int64_t xi = 0; xi < 16; ++xi)
      gemm(Co, Tn, Ci, wu_.data() + xi * Co * Ci, Ci, v.get() + xi * vs, Tn, 0.0, m.get() + xi * ms, Tn);
    for (int64_t j = 0; j < gn; ++j)
      for (int64_t o = 0; o < Co; ++o)
        for (int64_t ty = 0; ty < th; ++ty) {
          wino_output_row(tw, m.get() + o * Tn + (j * th + ty) * tw, ms, r0, r1);
          double* y0 = y + ((j0 + j) * Co + o) * HW + 2 * ty * W;
          std::memcpy(y0, r0, sizeof(double) * W);
          if (2 * ty + 1 < H) std::memcpy(y0 + W, r1, sizeof(double) * W);
        }
  }
}

}  // namespace convdyn::linalg::detail
