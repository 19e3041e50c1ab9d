// The CPU engine's building blocks for one ISA (see simd.hpp). Activations live in "halo"
// buffers: per sequence (L + 2*kHalo) rows of `ld` floats, rows -2, -1, L, L+1 kept zero, so
// convolutions read their zero padding straight from memory and a conv is one GEMM whose
// input rows are pointers into the buffer (implicit im2col).
#pragma once
#include <cstddef>
#include <cstdint>

#include "model.hpp"
#include "simd.hpp"

namespace dawm {
namespace DAWM_ISA {

// A view of channels [c0, c0 + C) of a halo buffer of sequences with L rows and stride ld.
struct Act {
  float* p = nullptr;
  int L = 0, ld = 0, c0 = 0, C = 0;
  int64_t seq_stride() const { return int64_t(L + 2 * kHalo) * ld; }
  float* row(int s, int r) const { return p + s * seq_stride() + int64_t(r + kHalo) * ld + c0; }
};

enum class ConvKind { Same, Down, UpEven, UpOdd };

// Per-thread scratch for one tile of `nseq` sequences (ddim.cpp sizes and owns it).
struct Workspace {
  int nseq = 0;
  float* X = nullptr;           // network input, level 0, x_dim channels
  float* S0 = nullptr;          // level-0 output (when there is no concat buffer for it)
  float* cat[kMaxLevels] = {};  // level l >= 1: [h from below | skip of level l]
  float* D[kMaxLevels] = {};    // downsampled input of level l >= 1
  float* F = nullptr;           // input of the final conv, level 0, dim channels
  float* A = nullptr;           // temps, each big enough for any level
  float* U = nullptr;
  float* T1 = nullptr;
  float* T2 = nullptr;
  float* T3 = nullptr;
  float* E = nullptr;            // (nseq, max channels): a block's embedding projection
  float* emb = nullptr;          // (nseq, dim): Mish(time + context + guide)
  const float** arow = nullptr;  // GEMM row pointers
  float** crow = nullptr;
};

// C[r, :N] = bias + sum_{t<taps} sum_{c<cin} A[r][t*tap_stride + c] * B[t*cin + c, :].
void gemm(int M, const float* const* arow, int taps, int tap_stride, int cin, const float* B,
          const float* bias, int N, float* const* crow);

// A Dense layer over `rows` contiguous rows (x: row stride ldx, y: row stride ldy).
void linear(const Dense& d, const float* prm, int rows, const float* x, int ldx, float* y, int ldy,
            Workspace& ws);

void conv(const Dense& d, const float* prm, int nseq, const Act& in, const Act& out, ConvKind kind,
          Workspace& ws);

// dst = Mish(GroupNorm8(src)) + add[s, :] + res (add, res optional); dst may alias src.
void norm_mish(const Norm& n, const float* prm, int nseq, const Act& src, const Act& dst,
               const float* add, int add_ld, const Act* res);

void zero_halo(int nseq, const Act& a);
void mish_rows(float* x, int rows, int cols, int ld);
void activate_rows(Activation act, float* x, int rows, int cols, int ld);

// The TemporalUNet over ws.X (nseq sequences of Lp rows); the prediction lands in ws.T2 with
// x_dim channels (Act{T2, Lp, x_dim}). `emb` holds Mish(emb) per sequence.
void unet_forward(const UNetDesc& u, const float* prm, int nseq, Workspace& ws);

// Mean actions (n samples, rows i = 1..H-1) from raw states; writes out_actions[:, 1:].
void idm_tile(const EngineDesc& d, const float* prm, int n, const float* s_t, const float* states,
              float* actions, float* buf0, float* buf1, Workspace& ws);

// Mish(GroupNorm(x)) on PyTorch's (N, C, L) layout for training (train_norm.cpp): forward
// writes out, and each (sample, group)'s mean and 1/std; backward writes dx, dgamma, dbeta.
void group_norm_mish_forward(const float* x, const float* gamma, const float* beta, int N, int C,
                             int L, int G, float eps, float* out, float* mean, float* rstd,
                             int threads);
void group_norm_mish_backward(const float* dout, const float* x, const float* gamma,
                              const float* beta, const float* mean, const float* rstd, int N,
                              int C, int L, int G, float* dx, float* dgamma, float* dbeta,
                              int threads);

// The whole generate() call: OpenMP over tiles of `tile` samples.
// Returns false if a thread could not allocate its scratch.
bool run(const EngineDesc& d, const float* prm, const Batch& b, int threads, int tile);

}  // namespace DAWM_ISA
}  // namespace dawm
