// Mish(GroupNorm(x)) forward and backward for training, on PyTorch's (N, C, L) layout.
//
// In the world model's training step this pair is a third of the time in PyTorch (four
// kernels a call, each a pass over memory; ~6–13 ns per element at the quick preset's
// shapes). Here one group of one sample, (C/G)·L contiguous floats that stay in cache, is
// read for its mean, its variance and its output (two passes for the gradient), in vectors,
// with Mish's derivative recomputed in the backward pass instead of stored. Arithmetic
// follows PyTorch's GroupNorm (biased variance, eps inside the square root) and Mish
// (x·tanh(softplus(x))) to float rounding.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops.hpp"

namespace dawm {
namespace DAWM_ISA {
namespace {

// Mish's derivative at y, from e = e^y as vmish (simd.hpp): tanh(softplus(y)) = n / (n + 2)
// with n = e (e + 2), and d/dy = tanh(sp) + y · (1 − tanh²(sp)) · sigmoid(y).
inline vf vmish_slope(vf y) {
  const vf e = vexp(vmin(y, splat(20.0f)));
  const vf n = e * (e + 2.0f);
  const vf t = n / (n + 2.0f);
  return t + y * (1.0f - t * t) * (e / (e + 1.0f));
}

// Per-channel values repeated L times: element j of group g's block belongs to channel
// g·C/G + j / L, so one (C·L) pattern serves every sample.
std::vector<float> expand(const float* per_channel, int C, int L) {
  std::vector<float> out(size_t(C) * L);
  for (int c = 0; c < C; ++c) std::fill_n(&out[size_t(c) * L], L, per_channel[c]);
  return out;
}

inline float hsum(vf v) {
  float s = 0.0f;
  for (int k = 0; k < VL; ++k) s += v[k];
  return s;
}

// Calls f(j, n) over [0, M) in vectors of n = VL floats, then one shorter tail.
template <class F>
inline void for_vectors(int M, F f) {
  int j = 0;
  for (; j + VL <= M; j += VL) f(j, VL);
  if (j < M) f(j, M - j);
}

inline vf load_n(const float* p, int n) {
  if (n == VL) return loadu(p);
  float tmp[VL] = {};
  std::copy(p, p + n, tmp);
  return loadu(tmp);
}

inline void store_n(float* p, vf v, int n) {
  if (n == VL) return storeu(p, v);
  float tmp[VL];
  storeu(tmp, v);
  std::copy(tmp, tmp + n, p);
}

}  // namespace

void group_norm_mish_forward(const float* x, const float* gamma, const float* beta, int N, int C,
                             int L, int G, float eps, float* out, float* mean, float* rstd,
                             int threads) {
  const int M = C / G * L;
  const std::vector<float> gam = expand(gamma, C, L), bet = expand(beta, C, L);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t blk = 0; blk < int64_t(N) * G; ++blk) {
    const float* xb = x + blk * M;
    float* ob = out + blk * M;
    const float* gb = &gam[size_t(blk % G) * M];
    const float* bb = &bet[size_t(blk % G) * M];
    vf acc = splat(0.0f);
    for_vectors(M, [&](int j, int n) { acc += load_n(xb + j, n); });
    const float mu = hsum(acc) / float(M);
    acc = splat(0.0f);
    for_vectors(M, [&](int j, int n) {
      vf d = load_n(xb + j, n) - mu;
      for (int k = n; k < VL; ++k) d[k] = 0.0f;  // the tail's padded lanes
      acc += d * d;
    });
    const float rs = 1.0f / std::sqrt(hsum(acc) / float(M) + eps);
    mean[blk] = mu;
    rstd[blk] = rs;
    for_vectors(M, [&](int j, int n) {
      const vf y = (load_n(xb + j, n) - mu) * rs * load_n(gb + j, n) + load_n(bb + j, n);
      store_n(ob + j, vmish(y), n);
    });
  }
}

void group_norm_mish_backward(const float* dout, const float* x, const float* gamma,
                              const float* beta, const float* mean, const float* rstd, int N,
                              int C, int L, int G, float* dx, float* dgamma, float* dbeta,
                              int threads) {
  const int M = C / G * L;
  const std::vector<float> gam = expand(gamma, C, L), bet = expand(beta, C, L);
  // Each thread's dgamma and dbeta per element of the (C·L) pattern, summed over its blocks
  // (no more threads than blocks, so the final sum below stays small).
  const int T = int(std::max<int64_t>(1, std::min<int64_t>(threads, int64_t(N) * G)));
  std::vector<float> part(size_t(T) * 2 * C * L, 0.0f);
#pragma omp parallel num_threads(T)
  {
    float* dg = &part[size_t(omp_get_thread_num()) * 2 * C * L];
    float* db = dg + size_t(C) * L;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < int64_t(N) * G; ++blk) {
      const size_t off = size_t(blk % G) * M;
      const float* xb = x + blk * M;
      const float* ub = dout + blk * M;
      float* xg = dx + blk * M;
      const float mu = mean[blk], rs = rstd[blk];
      // Pass 1: dy = dout · Mish'(y) (kept in dx); sums of dxhat = dy·γ and dxhat·xhat.
      vf s1 = splat(0.0f), s2 = splat(0.0f);
      for_vectors(M, [&](int j, int n) {
        const vf xhat = (load_n(xb + j, n) - mu) * rs;
        const vf g = load_n(&gam[off + j], n);
        const vf dy = load_n(ub + j, n) * vmish_slope(xhat * g + load_n(&bet[off + j], n));
        store_n(xg + j, dy, n);
        store_n(dg + off + j, load_n(dg + off + j, n) + dy * xhat, n);
        store_n(db + off + j, load_n(db + off + j, n) + dy, n);
        s1 += dy * g;  // padded lanes hold dy = 0
        s2 += dy * g * xhat;
      });
      // Pass 2: dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat)).
      const float m1 = hsum(s1) / float(M), m2 = hsum(s2) / float(M);
      for_vectors(M, [&](int j, int n) {
        const vf xhat = (load_n(xb + j, n) - mu) * rs;
        const vf dxhat = load_n(xg + j, n) * load_n(&gam[off + j], n);
        store_n(xg + j, (dxhat - m1 - xhat * m2) * rs, n);
      });
    }
  }
  // Threads' shares are added in thread order: the same thread count gives the same bits.
#pragma omp parallel for num_threads(T) schedule(static)
  for (int c = 0; c < C; ++c) {
    double sg = 0.0, sb = 0.0;
    for (int t = 0; t < T; ++t)
      for (int l = 0; l < L; ++l) {
        sg += part[(size_t(t) * 2 * C + c) * L + l];
        sb += part[(size_t(t) * 2 * C + C + c) * L + l];
      }
    dgamma[c] = float(sg);
    dbeta[c] = float(sb);
  }
}

}  // namespace DAWM_ISA
}  // namespace dawm
