// GEMM with implicit im2col: a register-blocked micro-kernel over packed weight panels.
// Rows of A are pointers (one per output row), so a k-tap convolution over halo buffers, a
// strided down-sampling conv and each parity of a transposed conv are all this one GEMM.
#include <algorithm>
#include <utility>

#include "ops.hpp"

namespace dawm {
namespace DAWM_ISA {
namespace {

template <int R>
inline void micro(const float* const* a, int taps, int tap_stride, int cin, const float* b,
                  const float* bias, float* const* c, int col0, int ncols) {
  vf acc[R][NV];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = loadu(bias + v * VL);
  for (int t = 0; t < taps; ++t) {
    const float* bt = b + int64_t(t) * cin * kPanel;
    const float* at[R];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) at[i] = a[i] + int64_t(t) * tap_stride;
    for (int k = 0; k < cin; ++k) {
      vf bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = loadu(bt + int64_t(k) * kPanel + v * VL);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const float s = at[i][k];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] += s * bv[v];
      }
    }
  }
  if (ncols == SW) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) storeu(c[i] + col0 + v * VL, acc[i][v]);
  } else {
    for (int i = 0; i < R; ++i) {
      float tmp[SW];
      for (int v = 0; v < NV; ++v) storeu(tmp + v * VL, acc[i][v]);
      for (int j = 0; j < ncols; ++j) c[i][col0 + j] = tmp[j];
    }
  }
}

using MicroFn = void (*)(const float* const*, int, int, int, const float*, const float*,
                         float* const*, int, int);

template <int... Rs>
struct MicroTable {
  static constexpr MicroFn fns[sizeof...(Rs)] = {&micro<Rs + 1>...};
};

template <int... I>
constexpr auto make_table(std::integer_sequence<int, I...>) {
  return MicroTable<I...>{};
}

}  // namespace

void gemm(int M, const float* const* arow, int taps, int tap_stride, int cin, const float* B,
          const float* bias, int N, float* const* crow) {
  static constexpr auto table = make_table(std::make_integer_sequence<int, MR>{});
  const int64_t K = int64_t(taps) * cin;
  for (int col0 = 0; col0 < N; col0 += SW) {
    const int panel = col0 / kPanel, off = col0 % kPanel;
    const float* b = B + panel * K * kPanel + off;
    const int nc = std::min(SW, N - col0);
    int r = 0;
    for (; r + MR <= M; r += MR)
      micro<MR>(arow + r, taps, tap_stride, cin, b, bias + col0, crow + r, col0, nc);
    if (r < M)
      table.fns[M - r - 1](arow + r, taps, tap_stride, cin, b, bias + col0, crow + r, col0, nc);
  }
}

void linear(const Dense& d, const float* prm, int rows, const float* x, int ldx, float* y, int ldy,
            Workspace& ws) {
  for (int r = 0; r < rows; ++r) {
    ws.arow[r] = x + int64_t(r) * ldx;
    ws.crow[r] = y + int64_t(r) * ldy;
  }
  gemm(rows, ws.arow, 1, 0, d.cin, prm + d.w, prm + d.b, d.cout, ws.crow);
}

void zero_halo(int nseq, const Act& a) {
  for (int s = 0; s < nseq; ++s)
    for (int r : {-2, -1, a.L, a.L + 1}) std::fill_n(a.row(s, r), a.C, 0.0f);
}

void conv(const Dense& d, const float* prm, int nseq, const Act& in, const Act& out, ConvKind kind,
          Workspace& ws) {
  int M = 0;
  for (int s = 0; s < nseq; ++s) {
    switch (kind) {
      case ConvKind::Same:  // k = taps, padding (taps - 1) / 2
        for (int p = 0; p < out.L; ++p, ++M) {
          ws.arow[M] = in.row(s, p - (d.taps - 1) / 2);
          ws.crow[M] = out.row(s, p);
        }
        break;
      case ConvKind::Down:  // k3, stride 2, padding 1
        for (int p = 0; p < out.L; ++p, ++M) {
          ws.arow[M] = in.row(s, 2 * p - 1);
          ws.crow[M] = out.row(s, p);
        }
        break;
      case ConvKind::UpEven:  // out[2q] from rows q-1, q
      case ConvKind::UpOdd:   // out[2q+1] from rows q, q+1
        for (int q = 0; q < in.L; ++q, ++M) {
          const bool odd = kind == ConvKind::UpOdd;
          ws.arow[M] = in.row(s, odd ? q : q - 1);
          ws.crow[M] = out.row(s, 2 * q + (odd ? 1 : 0));
        }
        break;
    }
  }
  gemm(M, ws.arow, d.taps, in.ld, d.cin, prm + d.w, prm + d.b, d.cout, ws.crow);
  if (kind != ConvKind::UpOdd) zero_halo(nseq, out);
}

}  // namespace DAWM_ISA
}  // namespace dawm
