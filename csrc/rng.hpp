// Counter-based N(0, 1) stream for the initial noise x_K, shared by the CPU and CUDA engines.
// Element e of sample b takes the pair counter b*ceil(n/2) + e/2 (n = L*x_dim), hashed with the
// seed by SplitMix64; the 64-bit hash gives two 24-bit uniforms and Box-Muller gives the pair
// (cos for even e, sin for odd e). Values depend only on (seed, b, e): not on threads or tiles.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define DAWM_HD __host__ __device__ __forceinline__
#else
#define DAWM_HD inline
#endif

namespace dawm {

DAWM_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

DAWM_HD float normal_at(uint64_t seed, int64_t sample, int64_t elem, int64_t per_sample) {
  const uint64_t pairs = static_cast<uint64_t>((per_sample + 1) / 2);
  const uint64_t counter = static_cast<uint64_t>(sample) * pairs + static_cast<uint64_t>(elem / 2);
  const uint64_t h = splitmix64(splitmix64(seed) ^ counter);
  const double u1 = (static_cast<double>(h >> 40) + 1.0) * (1.0 / 16777216.0);  // (0, 1]
  const double u2 = static_cast<double>(h & 0xFFFFFFULL) * (1.0 / 16777216.0);  // [0, 1)
  const double r = sqrt(-2.0 * log(u1));
  const double a = 6.283185307179586 * u2;
  return static_cast<float>((elem & 1) ? r * sin(a) : r * cos(a));
}

}  // namespace dawm
