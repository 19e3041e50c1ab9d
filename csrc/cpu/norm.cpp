// GroupNorm(8) + Mish fused with the adds that follow it in a residual block, and the
// element-wise activations of the inverse dynamics MLP.
#include <algorithm>
#include <cmath>

#include "ops.hpp"

namespace dawm {
namespace DAWM_ISA {
namespace {

constexpr int kMaxChannels = 4096;

// Applies f to x[0..n) in vectors; the tail goes through a zero-padded vector.
template <class F>
inline void map_vec(float* x, int n, F f) {
  int i = 0;
  for (; i + VL <= n; i += VL) storeu(x + i, f(loadu(x + i)));
  if (i < n) {
    float tmp[VL] = {};
    std::copy(x + i, x + n, tmp);
    storeu(tmp, f(loadu(tmp)));
    std::copy(tmp, tmp + (n - i), x + i);
  }
}

}  // namespace

void norm_mish(const Norm& nm, const float* prm, int nseq, const Act& src, const Act& dst,
               const float* add, int add_ld, const Act* res) {
  const int C = src.C, L = src.L, gs = C / kGroups;
  const float* gamma = prm + nm.gamma;
  const float* beta = prm + nm.beta;
  alignas(64) float sum[kMaxChannels];
  alignas(64) float scale[kMaxChannels];
  alignas(64) float shift[kMaxChannels];
  for (int s = 0; s < nseq; ++s) {
    // Two-pass statistics per group over (channels of the group) x (positions), as
    // PyTorch: biased variance, eps 1e-5; then y = x * scale_c + shift_c per channel.
    std::fill_n(sum, C, 0.0f);
    for (int r = 0; r < L; ++r) {
      const float* x = src.row(s, r);
#pragma omp simd
      for (int c = 0; c < C; ++c) sum[c] += x[c];
    }
    float mean[kGroups], rstd[kGroups];
    const float inv = 1.0f / float(gs * L);
    for (int g = 0; g < kGroups; ++g) {
      double acc = 0.0;
      for (int c = g * gs; c < (g + 1) * gs; ++c) acc += sum[c];
      mean[g] = float(acc) * inv;
    }
    std::fill_n(sum, C, 0.0f);
    for (int r = 0; r < L; ++r) {
      const float* x = src.row(s, r);
      for (int g = 0; g < kGroups; ++g) {
        const float m = mean[g];
#pragma omp simd
        for (int c = g * gs; c < (g + 1) * gs; ++c) sum[c] += (x[c] - m) * (x[c] - m);
      }
    }
    for (int g = 0; g < kGroups; ++g) {
      double acc = 0.0;
      for (int c = g * gs; c < (g + 1) * gs; ++c) acc += sum[c];
      rstd[g] = 1.0f / std::sqrt(float(acc) * inv + 1e-5f);
      for (int c = g * gs; c < (g + 1) * gs; ++c) {
        scale[c] = rstd[g] * gamma[c];
        shift[c] = beta[c] - mean[g] * scale[c];
      }
    }
    const float* a = add ? add + int64_t(s) * add_ld : nullptr;
    for (int r = 0; r < L; ++r) {
      const float* x = src.row(s, r);
      float* y = dst.row(s, r);
      const float* q = res ? res->row(s, r) : nullptr;
      int c = 0;
      for (; c + VL <= C; c += VL) {
        vf v = vmish(loadu(x + c) * loadu(scale + c) + loadu(shift + c));
        if (a) v = v + loadu(a + c);
        if (q) v = v + loadu(q + c);
        storeu(y + c, v);
      }
      for (; c < C; ++c) {  // C < VL only for tiny widths
        float tmp[VL] = {};
        tmp[0] = x[c] * scale[c] + shift[c];
        vf v = vmish(loadu(tmp));
        float z = v[0];
        if (a) z += a[c];
        if (q) z += q[c];
        y[c] = z;
      }
    }
  }
  zero_halo(nseq, dst);
}

void mish_rows(float* x, int rows, int cols, int ld) {
  for (int r = 0; r < rows; ++r) map_vec(x + int64_t(r) * ld, cols, [](vf v) { return vmish(v); });
}

void activate_rows(Activation act, float* x, int rows, int cols, int ld) {
  for (int r = 0; r < rows; ++r) {
    float* p = x + int64_t(r) * ld;
    switch (act) {
      case Activation::ReLU:
        map_vec(p, cols, [](vf v) { return vmax(v, splat(0.0f)); });
        break;
      case Activation::Mish:
        map_vec(p, cols, [](vf v) { return vmish(v); });
        break;
      case Activation::SiLU:
        map_vec(p, cols, [](vf v) { return v / (1.0f + vexp(-v)); });
        break;
      case Activation::Tanh:  // tanh(x) = 1 - 2 / (e^{2x} + 1)
        map_vec(p, cols, [](vf v) { return 1.0f - 2.0f / (vexp(2.0f * v) + 1.0f); });
        break;
      case Activation::GELU:  // exact (erf) GELU, PyTorch's nn.GELU default
        for (int c = 0; c < cols; ++c) p[c] = 0.5f * p[c] * (1.0f + std::erf(p[c] * 0.70710678f));
        break;
    }
  }
}

}  // namespace DAWM_ISA
}  // namespace dawm
