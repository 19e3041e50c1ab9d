// Copies around the bfloat16 GEMMs of a training convolution (diffusion_wm.gemm_conv): PyTorch
// does these transposing, casting copies at a fraction of memory speed on the U-Net's shapes.
#pragma once
#include <cstdint>

namespace dawm {

// x (N, C, L) float32 -> cols (N·L, k·C) bfloat16 bits: row n·L + l holds, tap by tap,
// x[n, :, l + j - k/2] for j = 0..k-1, zeros outside the sequence (round to nearest even).
void conv_columns_bf16(const float* x, int N, int C, int L, int k, uint16_t* cols, int threads);

// rows (N·L, C) bfloat16 bits -> out (N, C, L) float32.
void ncl_from_bf16_rows(const uint16_t* rows, int N, int C, int L, float* out, int threads);

}  // namespace dawm
