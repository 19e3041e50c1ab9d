// Per-ISA vector type. The files that include this are compiled three times (CMakeLists.txt),
// each into its own namespace dawm::DAWM_ISA, so no inline function is shared between builds
// for different instruction sets (which would break the one-definition rule at link time).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(DAWM_ISA_AVX512)
#define DAWM_ISA avx512
#define DAWM_VL 16
#define DAWM_MR 8
#define DAWM_NV 2
#elif defined(DAWM_ISA_AVX2)
#define DAWM_ISA avx2
#define DAWM_VL 8
#define DAWM_MR 6
#define DAWM_NV 2
#else
#define DAWM_ISA generic
#define DAWM_VL 4
#define DAWM_MR 6
#define DAWM_NV 2
#endif

namespace dawm {
namespace DAWM_ISA {

constexpr int VL = DAWM_VL;  // floats per vector register
constexpr int MR = DAWM_MR;  // rows per GEMM micro-tile
constexpr int NV = DAWM_NV;  // vectors per micro-tile row
constexpr int SW = VL * NV;  // columns per micro-tile

typedef float vf __attribute__((vector_size(VL * 4)));
typedef float vfu __attribute__((vector_size(VL * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf loadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
static inline void storeu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
static inline vf splat(float x) { return vf{} + x; }
static inline vf vmin(vf a, vf b) { return a < b ? a : b; }
static inline vf vmax(vf a, vf b) { return a > b ? a : b; }

// e^x, Cephes-style: 2^n · p(r), |r| <= ln2/2, max rel. error ~2 ulp on [-87, 88].
static inline vf vexp(vf x) {
  x = vmax(vmin(x, splat(88.0f)), splat(-87.0f));
  const vf big = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = x * 1.44269504088896341f + big;
  n = n - big;
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  vf scale;
  std::memcpy(&scale, &e, sizeof(scale));
  return y * scale;
}

// Mish(x) = x tanh(softplus(x)) = x · n / (n + 2) with n = e^x (e^x + 2); for x > 20 it is x
// to float precision (PyTorch's softplus threshold).
static inline vf vmish(vf x) {
  const vf e = vexp(vmin(x, splat(20.0f)));
  const vf n = e * (e + 2.0f);
  return x * (n / (n + 2.0f));
}

}  // namespace DAWM_ISA
}  // namespace dawm
