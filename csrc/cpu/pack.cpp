#include "cpu/pack.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace dawm {
namespace {

// float32 -> bfloat16 bits, rounded to nearest even as PyTorch rounds (NaN: 0x7fc0, where
// PyTorch's vectorized copy may write another NaN).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

void conv_columns_bf16(const float* x, int N, int C, int L, int k, uint16_t* cols, int threads) {
  const int p = k / 2;
  const int64_t row = int64_t(k) * C;
  // One sequence at a time, channels-last, per thread (allocated here: no throw inside OpenMP).
  std::vector<uint16_t> tiles(size_t(threads) * L * C);
#pragma omp parallel num_threads(threads)
  {
    uint16_t* tile = &tiles[size_t(omp_get_thread_num()) * L * C];
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      const float* xn = x + int64_t(n) * C * L;
      for (int c = 0; c < C; ++c)
        for (int l = 0; l < L; ++l) tile[size_t(l) * C + c] = to_bf16(xn[int64_t(c) * L + l]);
      uint16_t* out = cols + int64_t(n) * L * row;
      for (int l = 0; l < L; ++l, out += row)
        for (int j = 0; j < k; ++j) {
          const int src = l + j - p;
          uint16_t* dst = out + int64_t(j) * C;
          if (src < 0 || src >= L)
            std::fill(dst, dst + C, uint16_t(0));
          else
            std::memcpy(dst, tile + size_t(src) * C, sizeof(uint16_t) * C);
        }
    }
  }
}

void ncl_from_bf16_rows(const uint16_t* rows, int N, int C, int L, float* out, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; ++n) {
    const uint16_t* r = rows + int64_t(n) * L * C;
    float* o = out + int64_t(n) * C * L;
    for (int c = 0; c < C; ++c)
      for (int l = 0; l < L; ++l) o[int64_t(c) * L + l] = from_bf16(r[int64_t(l) * C + c]);
  }
}

}  // namespace dawm
