// CUDA engine: the CPU engine's graph (model.hpp) as device kernels over a whole chunk of
// samples. Same packed weights and halo activation layout; implicit-GEMM convolutions with
// shared-memory tiles (float32 on the CUDA cores or TF32 on the tensor cores), GroupNorm + Mish
// (+ adds) fused in one kernel per (sequence, group), and the whole k-step DDIM loop plus the
// IDM enqueued on one stream with no host round-trip: the host waits once, for the outputs.
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/engine.hpp"
#include "rng.hpp"

namespace dawm {
namespace cuda {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

// Channels [c0, c0 + C) of a halo buffer (see csrc/cpu/ops.hpp).
struct Act {
  float* p = nullptr;
  int L = 0, ld = 0, c0 = 0, C = 0;
  __host__ __device__ int64_t seq_stride() const { return int64_t(L + 2 * kHalo) * ld; }
  __host__ __device__ float* row(int s, int r) const {
    return p + s * seq_stride() + int64_t(r + kHalo) * ld + c0;
  }
};

enum Kind : int { kSame = 0, kDown = 1, kUpEven = 2, kUpOdd = 3, kLinear = 4 };

// Maps GEMM row r to its input row (first tap) and its output row.
struct RowMap {
  int kind = kLinear, pad = 0;
  Act in, out;  // kLinear: in.p / out.p with row strides in.ld / out.ld
  __device__ int rows_per_seq() const { return kind >= kUpEven ? in.L : out.L; }
  __device__ const float* a_row(int r) const {
    if (kind == kLinear) return in.p + int64_t(r) * in.ld;
    const int n = rows_per_seq(), s = r / n, q = r % n;
    const int ir = kind == kSame     ? q - pad
                   : kind == kDown   ? 2 * q - 1
                   : kind == kUpEven ? q - 1
                                     : q;
    return in.row(s, ir);
  }
  __device__ float* c_row(int r) const {
    if (kind == kLinear) return out.p + int64_t(r) * out.ld;
    const int n = rows_per_seq(), s = r / n, q = r % n;
    const int orow = kind == kUpEven ? 2 * q : kind == kUpOdd ? 2 * q + 1 : q;
    return out.row(s, orow);
  }
};

constexpr int BM = 64, BN = 64, BK = 16, kThreads = 256;

// Shared tiles of one BK step: A as [k][row] (rows padded by 4 floats: fewer bank conflicts,
// and a 16-row column stays 32-byte aligned for WMMA loads), B as [k][col].
struct Tiles {
  __align__(32) float A[BK][BM + 4];
  __align__(32) float B[BK][BN];
};

// Input rows of the tile's 4 rows per thread (row ty + 16 i): nullptr past M.
__device__ __forceinline__ void tile_rows(const RowMap& m, int M, int row0, const float* ap[4]) {
  const int ty = threadIdx.x / 16;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = row0 + ty + 16 * i;
    ap[i] = r < M ? m.a_row(r) : nullptr;
  }
}

// One BK step of both operands in registers: thread (tx, ty) holds A's column k0 + tx for
// rows ty + 16 i and four B values, so the next step's global loads can be in flight while
// the current step computes.
struct Staged {
  float a[4], b[4];
};

// Loads the k0 step: the implicit-GEMM A values (tap t, channel c of column k) and the packed
// B values (kPanel-wide column panels), zero outside the matrices.
__device__ __forceinline__ void load_step(Staged& r, const float* const ap[4], int k0, int K,
                                          int tap_stride, int cin, const float* __restrict__ B,
                                          int col0, int N) {
  const int tid = threadIdx.x, tx = tid % 16;
  const int kk = k0 + tx;
  const int tap = kk / cin, c = kk - tap * cin;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    r.a[i] = (ap[i] && kk < K) ? ap[i][int64_t(tap) * tap_stride + c] : 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int kb = k0 + tid / 64 + 4 * i, n = col0 + tid % 64;
    r.b[i] = (kb < K && n < N) ? B[(int64_t(n / kPanel) * K + kb) * kPanel + n % kPanel] : 0.0f;
  }
}

__device__ __forceinline__ void store_step(Tiles& t, const Staged& r) {
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
#pragma unroll
  for (int i = 0; i < 4; ++i) t.A[tx][ty + 16 * i] = r.a[i];
#pragma unroll
  for (int i = 0; i < 4; ++i) t.B[tid / 64 + 4 * i][tid % 64] = r.b[i];
}

// Writes the tile's outputs plus bias: thread (tx, ty) owns rows ty + 16 i, columns tx + 16 j.
template <class Value>
__device__ __forceinline__ void write_tile(const RowMap& m, int M, int row0, int col0,
                                           const float* __restrict__ bias, int N, Value value) {
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = row0 + ty + 16 * i;
    if (r >= M) continue;
    float* crow = m.c_row(r);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = col0 + tx + 16 * j;
      if (n < N) crow[n] = value(i, j) + bias[n];
    }
  }
}

// float32 on the CUDA cores: a 4 x 4 register tile per thread.
__global__ void gemm_kernel(RowMap m, int M, int taps, int tap_stride, int cin,
                            const float* __restrict__ B, const float* __restrict__ bias, int N) {
  __shared__ Tiles t;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  const int K = taps * cin;
  const float* ap[4];
  tile_rows(m, M, row0, ap);
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += BK) {
    Staged r;
    load_step(r, ap, k0, K, tap_stride, cin, B, col0, N);
    store_step(t, r);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = t.A[k][ty + 16 * i], b[i] = t.B[k][tx + 16 * i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  write_tile(m, M, row0, col0, bias, N, [&](int i, int j) { return acc[i][j]; });
}

// TF32 on the tensor cores (compute capability >= 8.0; the host refuses older devices): the
// same tiles, each of the 8 warps owning a 16 x 32 block as two m16n16k8 accumulators, with
// the next step's tile loads overlapping this step's MMAs (the float32 kernel's arithmetic
// hides its loads; these MMAs are too quick to). Inputs
// are rounded to TF32 (10-bit mantissa, round to nearest, ties away from zero) and products
// are summed in float32.
__global__ void gemm_tf32_kernel(RowMap m, int M, int taps, int tap_stride, int cin,
                                 const float* __restrict__ B, const float* __restrict__ bias,
                                 int N) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  __shared__ Tiles t;
  __shared__ __align__(32) float C[BM][BN + 4];
  const int warp = threadIdx.x / 32, wr = 16 * (warp % 4), wc = 32 * (warp / 4);
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  const int K = taps * cin;
  const float* ap[4];
  tile_rows(m, M, row0, ap);
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
  wmma::fill_fragment(acc[0], 0.0f);
  wmma::fill_fragment(acc[1], 0.0f);
  Staged r;
  load_step(r, ap, 0, K, tap_stride, cin, B, col0, N);
  for (int k0 = 0; k0 < K; k0 += BK) {
    store_step(t, r);
    __syncthreads();
    // the next step's loads are issued now and land while the tensor cores work on this one
    if (k0 + BK < K) load_step(r, ap, k0 + BK, K, tap_stride, cin, B, col0, N);
#pragma unroll
    for (int k = 0; k < BK; k += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a;
      wmma::load_matrix_sync(a, &t.A[k][wr], BM + 4);
#pragma unroll
      for (int e = 0; e < a.num_elements; ++e) a.x[e] = wmma::__float_to_tf32(a.x[e]);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
        wmma::load_matrix_sync(b, &t.B[k][wc + 16 * j], BN);
#pragma unroll
        for (int e = 0; e < b.num_elements; ++e) b.x[e] = wmma::__float_to_tf32(b.x[e]);
        wmma::mma_sync(acc[j], a, b, acc[j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int j = 0; j < 2; ++j)
    wmma::store_matrix_sync(&C[wr][wc + 16 * j], acc[j], BN + 4, wmma::mem_row_major);
  __syncthreads();
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  write_tile(m, M, row0, col0, bias, N,
             [&](int i, int j) { return C[ty + 16 * i][tx + 16 * j]; });
#else
  __trap();  // never launched: Engine refuses TF32 below compute capability 8.0
#endif
}

__global__ void zero_halo_kernel(Act a, int nseq) {
  const int64_t total = int64_t(nseq) * 4 * a.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % a.C), k = int((i / a.C) % 4), s = int(i / (4 * a.C));
    const int r = k < 2 ? k - 2 : a.L + k - 2;
    a.row(s, r)[c] = 0.0f;
  }
}

__device__ __forceinline__ float mish(float x) {
  return x > 20.0f ? x : x * tanhf(log1pf(expf(x)));
}

__device__ float block_sum(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int w = threadIdx.x / 32, l = threadIdx.x % 32;
  __syncthreads();
  if (l == 0) red[w] = v;
  __syncthreads();
  float s = 0.0f;
  for (int i = 0; i < int(blockDim.x / 32); ++i) s += red[i];
  return s;
}

// dst = Mish(GroupNorm8(src)) + add[s] + res; one block per (sequence, group).
__global__ void norm_mish_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                                 Act src, Act dst, const float* add, int add_ld, Act res) {
  __shared__ float red[32];
  const int s = blockIdx.x / kGroups, g = blockIdx.x % kGroups;
  const int gs = src.C / kGroups, n = gs * src.L;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) sum += src.row(s, i / gs)[g * gs + i % gs];
  const float mean = block_sum(sum, red) / n;
  float sq = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float d = src.row(s, i / gs)[g * gs + i % gs] - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_sum(sq, red) / n + 1e-5f);
  __syncthreads();  // every thread has read src before anyone overwrites it (dst may alias)
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int r = i / gs, c = g * gs + i % gs;
    const float scale = rstd * gamma[c];
    float y = mish(src.row(s, r)[c] * scale + (beta[c] - mean * scale));
    if (add) y += add[int64_t(s) * add_ld + c];
    if (res.p) y += res.row(s, r)[c];
    dst.row(s, r)[c] = y;
  }
}

__global__ void activate_kernel(float* x, int64_t n, int act) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    switch (act) {
      case int(Activation::ReLU):
        x[i] = fmaxf(v, 0.0f);
        break;
      case int(Activation::Mish):
        x[i] = mish(v);
        break;
      case int(Activation::SiLU):
        x[i] = v / (1.0f + expf(-v));
        break;
      case int(Activation::Tanh):
        x[i] = tanhf(v);
        break;
      default:
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678f));
        break;
    }
  }
}

struct Dev {
  const float* prm;
  const EngineDesc* desc;  // in device memory: too large for a kernel parameter
  int64_t sample0;         // global index of the chunk's first sample (RNG key)
  const float *states, *actions, *rtg, *noise;
  uint64_t seed;
  float *x, *known, *cin_c, *cin_g, *cemb, *gemb, *emb;
};

// Standardized context [s_t, a_t] and guide rows; x_K; the known token 0.
__global__ void prepare_kernel(Dev v, int n) {
  const UNetDesc& u = v.desc->unet;
  const LayoutDesc& l = v.desc->layout;
  const int i = blockIdx.x;
  if (i >= n) return;
  const int obs = l.obs_dim, act = l.act_dim, Lx = u.L * u.x_dim;
  const float *lo = v.prm + l.x_lo, *range = v.prm + l.x_range;
  for (int j = threadIdx.x; j < u.c_dim; j += blockDim.x) {
    const float x =
        j < obs ? v.states[int64_t(i) * obs + j] : v.actions[int64_t(i) * act + j - obs];
    v.cin_c[int64_t(i) * u.c_dim + j] = (x - v.prm[l.c_mean + j]) / v.prm[l.c_std + j];
  }
  for (int j = threadIdx.x; j < u.g_dim; j += blockDim.x)
    v.cin_g[int64_t(i) * u.g_dim + j] =
        (v.rtg[int64_t(i) * u.g_dim + j] - v.prm[l.g_mean + j]) / v.prm[l.g_std + j];
  for (int e = threadIdx.x; e < Lx; e += blockDim.x)
    v.x[int64_t(i) * Lx + e] =
        v.noise ? v.noise[int64_t(i) * Lx + e] : normal_at(v.seed, v.sample0 + i, e, Lx);
  __syncthreads();
  float* k = v.known + int64_t(i) * u.x_dim;
  const int n_act = l.action_col >= 0 ? act : 0;
  for (int o = threadIdx.x; o <= obs + n_act; o += blockDim.x) {
    const bool state = o < obs, action = o >= obs && o < obs + n_act;
    const int c = state ? l.state_col + o : action ? l.action_col + o - obs : l.reward_col;
    const float raw = state    ? v.states[int64_t(i) * obs + o]
                      : action ? v.actions[int64_t(i) * act + o - obs]
                               : 0.0f;
    k[c] = 2.0f * (raw - lo[c]) / range[c] - 1.0f;
    if (l.inpaint_first) v.x[int64_t(i) * Lx + c] = k[c];
  }
}

// Per step: Mish(time + context + guide·use) per sequence, and x copied into both passes.
__global__ void step_input_kernel(Dev v, int n, int step, Act X) {
  const UNetDesc& u = v.desc->unet;
  const SamplerDesc& sm = v.desc->sampler;
  const int q = blockIdx.x, i = q % n;
  const bool use_guide = sm.passes == 2 ? q < n : sm.single_uses_guide;
  const float* te = v.prm + sm.temb + int64_t(step) * u.dim;
  for (int c = threadIdx.x; c < u.dim; c += blockDim.x) {
    float e = te[c];
    if (u.c_dim) e = e + v.cemb[int64_t(i) * u.dim + c];
    if (u.g_dim && use_guide) e = e + v.gemb[int64_t(i) * u.dim + c];
    v.emb[int64_t(q) * u.dim + c] = mish(e);
  }
  const int Lx = u.L * u.x_dim;
  for (int e = threadIdx.x; e < Lx; e += blockDim.x)
    X.row(q, e / u.x_dim)[e % u.x_dim] = v.x[int64_t(i) * Lx + e];
}

__global__ void ddim_kernel(Dev v, int n, int step, Act P) {
  const UNetDesc& u = v.desc->unet;
  const SamplerDesc& sm = v.desc->sampler;
  const LayoutDesc& l = v.desc->layout;
  const int Lx = u.L * u.x_dim;
  const int64_t total = int64_t(n) * Lx;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int i = int(idx / Lx), e = int(idx % Lx), r = e / u.x_dim, c = e % u.x_dim;
    const float pc = P.row(i, r)[c];
    const float p =
        sm.passes == 2 ? P.row(n + i, r)[c] + sm.guidance * (pc - P.row(n + i, r)[c]) : pc;
    const float x = v.x[idx];
    const float sa = sm.sqrt_a[step], sb = sm.sqrt_1ma[step];
    float x0 = u.epsilon ? __fdiv_rn(x - sb * p, sa) : p;
    x0 = fminf(fmaxf(x0, -sm.clip), sm.clip);
    const float eps = __fdiv_rn(x - sa * x0, sb);
    float nx = sm.sqrt_ap[step] * x0 + sm.sqrt_1map[step] * eps;
    const bool known =
        l.inpaint_first && r == 0 &&
        ((c >= l.state_col && c < l.state_col + l.obs_dim) || c == l.reward_col ||
         (l.action_col >= 0 && c >= l.action_col && c < l.action_col + l.act_dim));
    if (known) nx = v.known[int64_t(i) * u.x_dim + c];
    v.x[idx] = nx;
  }
}

// Denormalized states/rewards, a_t in actions[:, 0], the IDM input windows.
__global__ void outputs_kernel(Dev v, int n, float* states, float* rewards, float* actions,
                               float* windows) {
  const UNetDesc& u = v.desc->unet;
  const LayoutDesc& l = v.desc->layout;
  const IdmDesc& id = v.desc->idm;
  const int i = blockIdx.x, H = l.H, obs = l.obs_dim, act = l.act_dim;
  const float *lo = v.prm + l.x_lo, *range = v.prm + l.x_range;
  const float* x = v.x + int64_t(i) * u.L * u.x_dim;
  for (int e = threadIdx.x; e < H * (obs + 1); e += blockDim.x) {
    const int j = e / (obs + 1) + 1, o = e % (obs + 1);
    const int c = o < obs ? l.state_col + o : l.reward_col;
    const float raw = (x[j * u.x_dim + c] + 1.0f) * 0.5f * range[c] + lo[c];
    if (o < obs)
      states[(int64_t(i) * H + j - 1) * obs + o] = raw;
    else
      rewards[int64_t(i) * H + j - 1] = raw;
  }
  for (int j = threadIdx.x; j < act; j += blockDim.x)
    actions[int64_t(i) * H * act + j] = v.actions[int64_t(i) * act + j];
  __syncthreads();
  const int m = id.history;
  for (int e = threadIdx.x; e < (H - 1) * id.in_dim; e += blockDim.x) {
    const int k = e / id.in_dim + 1, w = e % id.in_dim, s = w / obs, o = w % obs;
    const int j = k - m + s;
    const float src =
        j <= 0 ? v.states[int64_t(i) * obs + o] : states[(int64_t(i) * H + j - 1) * obs + o];
    windows[(int64_t(i) * (H - 1) + k - 1) * id.in_dim + w] =
        (src - v.prm[id.obs_mean + o]) / v.prm[id.obs_std + o];
  }
}

__global__ void idm_actions_kernel(Dev v, int n, const float* out, float* actions) {
  const IdmDesc& id = v.desc->idm;
  const int H = v.desc->layout.H, act = id.act_dim;
  const int64_t total = int64_t(n) * (H - 1) * act;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(idx % act);
    const int64_t row = idx / act;
    const int i = int(row / (H - 1)), k = int(row % (H - 1)) + 1;
    const float a = out[row * 2 * act + j] * v.prm[id.act_std + j] + v.prm[id.act_mean + j];
    actions[(int64_t(i) * H + k) * act + j] =
        fmaxf(fminf(a, v.prm[id.act_high + j]), v.prm[id.act_low + j]);
  }
}

int grid_for(int64_t n) { return int(std::min<int64_t>((n + 255) / 256, 4096)); }

}  // namespace

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount reported 0 devices";
  return n;
}

struct Engine::Impl {
  EngineDesc d;
  int device = 0, chunk = 0, nseq = 0;
  bool tf32 = false;
  cudaStream_t stream = nullptr;
  float* prm = nullptr;
  EngineDesc* ddesc = nullptr;
  float* arena = nullptr;
  // Buffers (device), sized for `chunk` samples.
  float *X, *S0, *F, *A, *U, *T1, *T2, *T3, *E, *emb, *cat[kMaxLevels] = {}, *D[kMaxLevels] = {};
  float *x, *known, *cin_c, *cin_g, *hid, *cemb, *gemb, *win, *h0, *h1;
  float *in_states, *in_actions, *in_rtg, *in_noise, *o_states, *o_rewards, *o_actions, *o_x;

  const float* P(int64_t off) const { return prm + off; }

  void gemm(const RowMap& m, int M, const Dense& w) {
    if (M <= 0) return;
    dim3 grid((w.cout + BN - 1) / BN, (M + BM - 1) / BM);
    auto* kernel = tf32 ? gemm_tf32_kernel : gemm_kernel;
    kernel<<<grid, kThreads, 0, stream>>>(m, M, w.taps, m.in.ld, w.cin, P(w.w), P(w.b), w.cout);
  }
  void linear(const Dense& w, int rows, const float* x, int ldx, float* y, int ldy) {
    RowMap m;
    m.kind = kLinear;
    m.in = Act{const_cast<float*>(x), 0, ldx, 0, w.cin};
    m.out = Act{y, 0, ldy, 0, w.cout};
    gemm(m, rows, w);
  }
  void zero_halo(int ns, const Act& a) {
    zero_halo_kernel<<<grid_for(int64_t(ns) * 4 * a.C), 256, 0, stream>>>(a, ns);
  }
  void conv(const Dense& w, int ns, const Act& in, const Act& out, Kind kind) {
    RowMap m;
    m.kind = kind, m.pad = (w.taps - 1) / 2, m.in = in, m.out = out;
    gemm(m, ns * (kind >= kUpEven ? in.L : out.L), w);
    if (kind != kUpOdd) zero_halo(ns, out);
  }
  void norm_mish(const Norm& nm, int ns, const Act& src, const Act& dst, const float* add,
                 int add_ld, const Act* res) {
    norm_mish_kernel<<<ns * kGroups, 128, 0, stream>>>(P(nm.gamma), P(nm.beta), src, dst, add,
                                                       add_ld, res ? *res : Act{});
    zero_halo(ns, dst);
  }
  static Act temp(float* p, int L, int C) { return Act{p, L, C, 0, C}; }

  void block(const Block& b, int ns, const Act& in, const Act& out) {
    const Act t1 = temp(T1, in.L, b.cout);
    conv(b.conv0, ns, in, t1, kSame);
    linear(b.emb, ns, emb, b.emb.cin, E, b.cout);
    norm_mish(b.norm0, ns, t1, t1, E, b.cout, nullptr);
    const Act t2 = temp(T2, in.L, b.cout);
    conv(b.conv1, ns, t1, t2, kSame);
    if (b.has_skip) {
      const Act t3 = temp(T3, in.L, b.cout);
      conv(b.skip, ns, in, t3, kSame);
      norm_mish(b.norm1, ns, t2, out, nullptr, 0, &t3);
    } else {
      norm_mish(b.norm1, ns, t2, out, nullptr, 0, &in);
    }
  }

  void unet(int ns) {  // same schedule of buffers as csrc/cpu/unet.cpp
    const UNetDesc& u = d.unet;
    const int n = u.n_levels;
    const int* ch = u.ch;
    auto skip_of = [&](int l) {
      const int L = u.Lp >> l;
      return l == 0 ? Act{S0, L, ch[1], 0, ch[1]}
                    : Act{cat[l], L, 2 * ch[l + 1], ch[l + 1], ch[l + 1]};
    };
    const Act final_in{F, u.Lp, ch[1], 0, ch[1]};
    auto h_into = [&](int l) {
      return l == 0 ? final_in : Act{cat[l], u.Lp >> l, 2 * ch[l + 1], 0, ch[l + 1]};
    };
    Act h{X, u.Lp, u.x_dim, 0, u.x_dim};
    for (int l = 0; l < n; ++l) {
      const Act a = temp(A, h.L, ch[l + 1]);
      const Act s = skip_of(l);
      block(u.down[l][0], ns, h, a);
      block(u.down[l][1], ns, a, s);
      if (l < n - 1) {
        const Act dn{D[l + 1], s.L / 2, ch[l + 1], 0, ch[l + 1]};
        conv(u.downsample[l], ns, s, dn, kDown);
        h = dn;
      } else {
        h = s;
      }
    }
    const Act a = temp(A, h.L, ch[n]);
    block(u.mid[0], ns, h, a);
    block(u.mid[1], ns, a, h_into(n - 1));
    for (int j = 0; j < n - 1; ++j) {
      const int l = n - 1 - j, L = u.Lp >> l;
      const Act c{cat[l], L, 2 * ch[l + 1], 0, 2 * ch[l + 1]};
      const Act a2 = temp(A, L, ch[l]), b2 = temp(U, L, ch[l]);
      block(u.up[j][0], ns, c, a2);
      block(u.up[j][1], ns, a2, b2);
      conv(u.up_even[j], ns, b2, h_into(l - 1), kUpEven);
      conv(u.up_odd[j], ns, b2, h_into(l - 1), kUpOdd);
    }
    const Act t1 = temp(T1, u.Lp, u.dim);
    conv(u.final_conv, ns, final_in, t1, kSame);
    norm_mish(u.final_norm, ns, t1, t1, nullptr, 0, nullptr);
    conv(u.final_out, ns, t1, temp(T2, u.Lp, u.x_dim), kSame);
  }

  void allocate() {
    const UNetDesc& u = d.unet;
    const int n = u.n_levels, H = d.layout.H, obs = d.layout.obs_dim, act = d.layout.act_dim;
    nseq = d.sampler.passes * chunk;
    auto halo = [&](int l, int C) { return int64_t(nseq) * ((u.Lp >> l) + 2 * kHalo) * C; };
    int cmax = u.x_dim;
    int64_t tmp = 0;
    for (int l = 0; l <= n; ++l) cmax = std::max(cmax, u.ch[l]);
    for (int l = 0; l < n; ++l)
      tmp = std::max(tmp, halo(l, std::max({u.ch[l], u.ch[l + 1], u.x_dim})));
    const int64_t Lx = int64_t(u.L) * u.x_dim, idm_rows = int64_t(chunk) * std::max(H - 1, 1);
    struct Req {
      float** p;
      int64_t n;
    };
    Req reqs[] = {{&X, halo(0, u.x_dim)},
                  {&S0, halo(0, u.ch[1])},
                  {&F, halo(0, u.ch[1])},
                  {&A, tmp},
                  {&U, tmp},
                  {&T1, tmp},
                  {&T2, tmp},
                  {&T3, tmp},
                  {&E, int64_t(nseq) * cmax},
                  {&emb, int64_t(nseq) * u.dim},
                  {&x, chunk * Lx},
                  {&known, int64_t(chunk) * u.x_dim},
                  {&cin_c, int64_t(chunk) * std::max(u.c_dim, 1)},
                  {&cin_g, int64_t(chunk) * std::max(u.g_dim, 1)},
                  {&hid, int64_t(chunk) * 4 * u.dim},
                  {&cemb, int64_t(chunk) * u.dim},
                  {&gemb, int64_t(chunk) * u.dim},
                  {&win, idm_rows * d.idm.in_dim},
                  {&h0, idm_rows * d.idm.max_width},
                  {&h1, idm_rows * d.idm.max_width},
                  {&in_states, int64_t(chunk) * obs},
                  {&in_actions, int64_t(chunk) * act},
                  {&in_rtg, int64_t(chunk) * std::max(u.g_dim, 1)},
                  {&in_noise, chunk * Lx},
                  {&o_states, int64_t(chunk) * H * obs},
                  {&o_rewards, int64_t(chunk) * H},
                  {&o_actions, int64_t(chunk) * H * act},
                  {&o_x, chunk * Lx}};
    int64_t total = 0;
    for (const Req& r : reqs) total += (r.n + 63) / 64 * 64;
    for (int l = 1; l < n; ++l)
      total += (halo(l, 2 * u.ch[l + 1]) + 63) / 64 * 64 + (halo(l, u.ch[l]) + 63) / 64 * 64;
    check(cudaMalloc(&arena, sizeof(float) * total), "cudaMalloc (workspace)");
    check(cudaMemset(arena, 0, sizeof(float) * total), "cudaMemset");
    float* p = arena;
    for (const Req& r : reqs) *r.p = p, p += (r.n + 63) / 64 * 64;
    for (int l = 1; l < n; ++l) {
      cat[l] = p, p += (halo(l, 2 * u.ch[l + 1]) + 63) / 64 * 64;
      D[l] = p, p += (halo(l, u.ch[l]) + 63) / 64 * 64;
    }
  }

  void run_chunk(int64_t b0, int n, const Batch& b) {
    const UNetDesc& u = d.unet;
    const LayoutDesc& l = d.layout;
    const int64_t Lx = int64_t(u.L) * u.x_dim;
    const int H = l.H, obs = l.obs_dim, act = l.act_dim;
    auto up = [&](float* dst, const float* src, int64_t count) {
      if (src)
        check(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyHostToDevice, stream),
              "copy in");
    };
    up(in_states, b.states, int64_t(n) * obs);
    up(in_actions, b.actions, int64_t(n) * act);
    up(in_rtg, b.rtg, int64_t(n) * u.g_dim);
    up(in_noise, b.noise, n * Lx);
    Dev v{prm,
          ddesc,
          b0,
          in_states,
          in_actions,
          b.rtg ? in_rtg : nullptr,
          b.noise ? in_noise : nullptr,
          b.seed,
          x,
          known,
          cin_c,
          cin_g,
          cemb,
          gemb,
          emb};
    prepare_kernel<<<n, 128, 0, stream>>>(v, n);
    if (u.c_dim) {
      linear(u.ctx0, n, cin_c, u.c_dim, hid, 4 * u.dim);
      activate_kernel<<<grid_for(int64_t(n) * 4 * u.dim), 256, 0, stream>>>(
          hid, int64_t(n) * 4 * u.dim, int(Activation::Mish));
      linear(u.ctx2, n, hid, 4 * u.dim, cemb, u.dim);
    }
    if (u.g_dim) {
      linear(u.guide0, n, cin_g, u.g_dim, hid, 4 * u.dim);
      activate_kernel<<<grid_for(int64_t(n) * 4 * u.dim), 256, 0, stream>>>(
          hid, int64_t(n) * 4 * u.dim, int(Activation::Mish));
      linear(u.guide2, n, hid, 4 * u.dim, gemb, u.dim);
    }
    const int ns = d.sampler.passes * n;
    for (int st = 0; st < d.sampler.steps; ++st) {
      step_input_kernel<<<ns, 128, 0, stream>>>(v, n, st, Act{X, u.Lp, u.x_dim, 0, u.x_dim});
      unet(ns);
      ddim_kernel<<<grid_for(n * Lx), 256, 0, stream>>>(v, n, st,
                                                        Act{T2, u.Lp, u.x_dim, 0, u.x_dim});
    }
    outputs_kernel<<<n, 128, 0, stream>>>(v, n, o_states, o_rewards, o_actions, win);
    const IdmDesc& id = d.idm;
    if (H > 1) {
      const int rows = n * (H - 1);
      const float* cur = win;
      float* bufs[2] = {h0, h1};
      for (int i = 0; i < id.n_layers; ++i) {
        const Dense& w = id.layers[i];
        float* out = bufs[i % 2];
        linear(w, rows, cur, w.cin, out, w.cout);
        if (i + 1 < id.n_layers)
          activate_kernel<<<grid_for(int64_t(rows) * w.cout), 256, 0, stream>>>(
              out, int64_t(rows) * w.cout, int(id.act));
        cur = out;
      }
      idm_actions_kernel<<<grid_for(int64_t(rows) * act), 256, 0, stream>>>(v, n, cur, o_actions);
    }
    check(cudaGetLastError(), "kernel launch");
    auto down = [&](float* dst, const float* src, int64_t count) {
      if (dst)
        check(cudaMemcpyAsync(dst, src, sizeof(float) * count, cudaMemcpyDeviceToHost, stream),
              "copy out");
    };
    down(b.out_states, o_states, int64_t(n) * H * obs);
    down(b.out_rewards, o_rewards, int64_t(n) * H);
    down(b.out_actions, o_actions, int64_t(n) * H * act);
    down(b.out_x, x, n * Lx);
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }
};

Engine::Engine(const EngineDesc& desc, const float* params, int device, int chunk, bool tf32)
    : impl_(new Impl) {
  std::string why;
  const int count = device_count(&why);
  if (count < 1) throw std::runtime_error("no CUDA device: " + why);
  if (device < 0 || device >= count)
    throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (" +
                                std::to_string(count) + " present)");
  if (tf32) {
    int major = 0, minor = 0;
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "capability");
    check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device), "capability");
    if (major < 8)
      throw std::invalid_argument("precision 'tf32' needs compute capability >= 8.0, CUDA device " +
                                  std::to_string(device) + " has " + std::to_string(major) + "." +
                                  std::to_string(minor) + ": use precision 'float32'");
    // The kernel body exists only in code built for compute_80+ (__CUDA_ARCH__ follows the
    // virtual architecture): PTX of an older one (CMAKE_CUDA_ARCHITECTURES), JIT-compiled for
    // this device, gets a new binary version but would still trap.
    check(cudaSetDevice(device), "cudaSetDevice");
    cudaFuncAttributes attr{};
    check(cudaFuncGetAttributes(&attr, gemm_tf32_kernel), "cudaFuncGetAttributes");
    if (attr.ptxVersion < 80)
      throw std::invalid_argument(
          "precision 'tf32': dawm_kernels was built without sm_80+ code for this device "
          "(CMAKE_CUDA_ARCHITECTURES); rebuild with 80 or 90 in it, or use precision 'float32'");
  }
  Impl& m = *impl_;
  m.d = desc, m.device = device, m.chunk = std::max(chunk, 1), m.tf32 = tf32;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreate(&m.stream), "cudaStreamCreate");
  check(cudaMalloc(&m.prm, sizeof(float) * desc.n_params), "cudaMalloc (weights)");
  check(cudaMemcpy(m.prm, params, sizeof(float) * desc.n_params, cudaMemcpyHostToDevice),
        "copy weights");
  check(cudaMalloc(&m.ddesc, sizeof(EngineDesc)), "cudaMalloc (description)");
  check(cudaMemcpy(m.ddesc, &desc, sizeof(EngineDesc), cudaMemcpyHostToDevice), "copy description");
  m.allocate();
}

Engine::~Engine() {
  if (!impl_) return;
  cudaFree(impl_->arena);
  cudaFree(impl_->prm);
  cudaFree(impl_->ddesc);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
}

void Engine::run(const Batch& b) {
  Impl& m = *impl_;
  check(cudaSetDevice(m.device), "cudaSetDevice");
  const int64_t obs = m.d.layout.obs_dim, act = m.d.layout.act_dim, H = m.d.layout.H;
  const int64_t Lx = int64_t(m.d.unet.L) * m.d.unet.x_dim, g = m.d.unet.g_dim;
  for (int64_t b0 = 0; b0 < b.B; b0 += m.chunk) {
    const int n = int(std::min<int64_t>(m.chunk, b.B - b0));
    Batch c = b;
    c.states = b.states + b0 * obs;
    c.actions = b.actions + b0 * act;
    c.rtg = b.rtg ? b.rtg + b0 * g : nullptr;
    c.noise = b.noise ? b.noise + b0 * Lx : nullptr;
    c.out_states = b.out_states + b0 * H * obs;
    c.out_rewards = b.out_rewards + b0 * H;
    c.out_actions = b.out_actions + b0 * H * act;
    c.out_x = b.out_x ? b.out_x + b0 * Lx : nullptr;
    m.run_chunk(b.sample0 + b0, n, c);
  }
}

}  // namespace cuda
}  // namespace dawm
